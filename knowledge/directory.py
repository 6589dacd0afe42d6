"""Who and where: communities, their channels, members and platform identities.

Roles follow their source. A member holds up to two grants: Hearth's own (`Member.role`,
from the config file or a command, `role_source` saying which) and the platform's
(`Member.platform_role`: a Slack admin or user group, a Discord role or Manage Server, a
Matrix power level), which adapters attach to each event (`UserRef.platform_role`) and
`follow_platform` records. The member may do what the higher one allows. So the platform
takes back only what it granted, and never lowers a role Hearth gave.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from knowledge.db import Database
from knowledge.models import ChannelBinding, Community, Identity, Member
from knowledge.upsert import insert_ignoring_conflict
from knowledge.views import CommunityInfo, MemberInfo
from knowledge.vocabulary import Role, RoleSource

log = structlog.get_logger(__name__)

WHOLE_SPACE = "*"  # a binding's channel that covers every channel of its space


def community_info(row: Community) -> CommunityInfo:
    return CommunityInfo(row.id, row.slug, row.name, row.timezone)


def effective_role(row: Member) -> tuple[Role, RoleSource | None]:
    """The higher of Hearth's grant and the platform's; on a tie Hearth's (it is kept)."""
    granted, platform = row.role, row.platform_role or Role.MEMBER
    if platform.rank > granted.rank:
        return platform, RoleSource.PLATFORM
    if granted is Role.MEMBER:
        return Role.MEMBER, None
    return granted, row.role_source or RoleSource.HEARTH


def member_info(row: Member) -> MemberInfo:
    role, source = effective_role(row)
    return MemberInfo(row.id, row.community_id, row.display_name, role, source)


def follow_platform(row: Member, granted: Role | None) -> None:
    """Record the role the platform grants now: it promotes above Hearth's grant, and a
    lower one takes back only what the platform gave. None (the adapter cannot tell, e.g.
    a reaction without member details) changes nothing."""
    if granted is None or row.platform_role is granted:
        return
    before = effective_role(row)
    row.platform_role = granted
    after = effective_role(row)
    if after != before:
        log.info(
            "member.role_changed",
            member=row.id,
            community=row.community_id,
            role=after[0].value,
            was=before[0].value,
            source=after[1].value if after[1] else None,
        )


class Directory:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def ensure_community(self, slug: str, name: str, timezone: str) -> CommunityInfo:
        """Create the community or bring its name and time zone in line with config."""
        async with self._db.sessions.begin() as session:
            await session.execute(
                insert_ignoring_conflict(
                    session, Community, {"slug": slug, "name": name, "timezone": timezone}, ["slug"]
                )
            )
            row = (
                await session.execute(select(Community).where(Community.slug == slug))
            ).scalar_one()
            row.name, row.timezone = name, timezone
            return community_info(row)

    async def community_by_slug(self, slug: str) -> CommunityInfo | None:
        async with self._db.sessions() as session:
            row = await session.scalar(select(Community).where(Community.slug == slug))
            return community_info(row) if row else None

    async def community_by_id(self, community_id: int) -> CommunityInfo | None:
        async with self._db.sessions() as session:
            row = await session.get(Community, community_id)
            return community_info(row) if row else None

    async def communities(self) -> list[CommunityInfo]:
        """The communities of this deployment. A linked community of another deployment
        has a row too (`slug@host`, knowledge/federation_links.py) but lives elsewhere."""
        async with self._db.sessions() as session:
            rows = await session.scalars(
                select(Community).where(~Community.slug.contains("@")).order_by(Community.slug)
            )
            return [community_info(r) for r in rows]

    async def remote_communities(self) -> list[CommunityInfo]:
        """Linked communities of other deployments (`slug@host`), shown as such."""
        async with self._db.sessions() as session:
            rows = await session.scalars(
                select(Community).where(Community.slug.contains("@")).order_by(Community.slug)
            )
            return [community_info(r) for r in rows]

    async def bind_channels(
        self, community_id: int, channels: Iterable[tuple[str, str, str]]
    ) -> None:
        """Bind (platform, space, channel) triples; a channel already bound elsewhere moves."""
        async with self._db.sessions.begin() as session:
            for platform, space, channel in channels:
                key = {"platform": platform, "space": space, "channel": channel}
                await session.execute(
                    insert_ignoring_conflict(
                        session,
                        ChannelBinding,
                        {**key, "community_id": community_id},
                        ["platform", "space", "channel"],
                    )
                )
                await session.execute(
                    update(ChannelBinding).filter_by(**key).values(community_id=community_id)
                )

    async def community_for_channel(
        self, platform: str, space: str, channel: str
    ) -> CommunityInfo | None:
        """The channel's community: its own binding, else its workspace's (`channel = "*"`,
        a Slack workspace installed through OAuth or configured whole)."""
        async with self._db.sessions() as session:
            row = await session.scalar(
                select(Community)
                .join(ChannelBinding, ChannelBinding.community_id == Community.id)
                .where(
                    ChannelBinding.platform == platform,
                    ChannelBinding.space == space,
                    ChannelBinding.channel.in_((channel, WHOLE_SPACE)),
                )
                .order_by(ChannelBinding.channel == WHOLE_SPACE)
                .limit(1)
            )
            return community_info(row) if row else None

    async def communities_in_spaces(
        self, platform: str, spaces: Iterable[str]
    ) -> list[CommunityInfo]:
        """The communities with a channel in any of these spaces, by name."""
        wanted = list(spaces)
        if not wanted:
            return []
        async with self._db.sessions() as session:
            rows = await session.scalars(
                select(Community)
                .join(ChannelBinding, ChannelBinding.community_id == Community.id)
                .where(ChannelBinding.platform == platform, ChannelBinding.space.in_(wanted))
                .distinct()
                .order_by(Community.name)
            )
            return [community_info(r) for r in rows]

    async def bound_spaces(self, platform: str) -> list[str]:
        """Every space of the platform where some community has a channel."""
        async with self._db.sessions() as session:
            rows = await session.scalars(
                select(ChannelBinding.space).where(ChannelBinding.platform == platform).distinct()
            )
            return sorted(rows)

    async def resolve_member(
        self,
        community_id: int,
        platform: str,
        user_id: str,
        display_name: str,
        platform_role: Role | None = None,
    ) -> MemberInfo:
        """The member behind an identity, with the platform's current grant applied (the
        one place roles from platforms are applied, in the same transaction)."""
        async with self._db.sessions.begin() as session:
            row = await member_row(session, community_id, platform, user_id, display_name)
            follow_platform(row, platform_role)
            return member_info(row)

    async def assign_role(
        self,
        community_id: int,
        platform: str,
        user_id: str,
        role: Role,
        source: RoleSource = RoleSource.HEARTH,
    ) -> MemberInfo:
        """Hearth's own grant (config file or command); the platform never lowers it.
        The display name is left alone (only a new member is named by its user id)."""
        async with self._db.sessions.begin() as session:
            row = await member_row(session, community_id, platform, user_id, "")
            row.role = role
            row.role_source = None if role is Role.MEMBER else source
            return member_info(row)

    async def apply_config_roles(
        self, community_id: int, grants: Mapping[tuple[str, str], Role]
    ) -> None:
        """Make the config file's `stewards`/`curators` ((platform, user id) → role) hold,
        exactly: a member it no longer names loses the role the config gave (roles from a
        command or the platform are not touched)."""
        async with self._db.sessions.begin() as session:
            named: set[int] = set()
            for (platform, user_id), role in grants.items():
                row = await member_row(session, community_id, platform, user_id, "")
                row.role, row.role_source = role, RoleSource.CONFIG
                named.add(row.id)
            dropped = await session.scalars(
                select(Member).where(
                    Member.community_id == community_id,
                    Member.role_source == RoleSource.CONFIG,
                    Member.id.not_in(named),
                )
            )
            for row in dropped:
                row.role, row.role_source = Role.MEMBER, None
                log.info("member.config_role_removed", member=row.id, community=community_id)


async def member_for_identity(
    session: AsyncSession, community_id: int, platform: str, user_id: str, display_name: str
) -> MemberInfo:
    """The member behind a platform identity, created on first sight (race-safe)."""
    return member_info(await member_row(session, community_id, platform, user_id, display_name))


async def member_row(
    session: AsyncSession, community_id: int, platform: str, user_id: str, display_name: str
) -> Member:
    """The member row behind an identity, created on first sight (race-safe); an empty
    `display_name` keeps the current one (a new member is then named by its user id)."""
    query = (
        select(Member)
        .join(Identity, Identity.member_id == Member.id)
        .where(
            Identity.community_id == community_id,
            Identity.platform == platform,
            Identity.platform_user_id == user_id,
        )
    )
    existing = await session.scalar(query)
    if existing is not None:
        if existing.forgotten_at is None and display_name and existing.display_name != display_name:
            existing.display_name = display_name
        return existing
    display_name = display_name or user_id
    member = Member(community_id=community_id, display_name=display_name, role=Role.MEMBER)
    session.add(member)
    await session.flush()
    inserted = await session.scalar(
        insert_ignoring_conflict(
            session,
            Identity,
            {
                "community_id": community_id,
                "member_id": member.id,
                "platform": platform,
                "platform_user_id": user_id,
                "display_name": display_name,
            },
            ["community_id", "platform", "platform_user_id"],
        ).returning(Identity.id)
    )
    if inserted is None:  # another process created it between our read and write
        await session.delete(member)
        winner = await session.scalar(query)
        assert winner is not None
        return winner
    return member
