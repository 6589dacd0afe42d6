"""Who and where: communities, their channels, members and platform identities."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from knowledge.db import Database
from knowledge.models import ChannelBinding, Community, Identity, Member, Role
from knowledge.upsert import insert_ignoring_conflict
from knowledge.views import CommunityInfo, MemberInfo


def community_info(row: Community) -> CommunityInfo:
    return CommunityInfo(row.id, row.slug, row.name, row.timezone)


def member_info(row: Member) -> MemberInfo:
    return MemberInfo(row.id, row.community_id, row.display_name, row.role)


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
        async with self._db.sessions() as session:
            rows = await session.scalars(select(Community).order_by(Community.slug))
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
        async with self._db.sessions() as session:
            row = await session.scalar(
                select(Community)
                .join(ChannelBinding, ChannelBinding.community_id == Community.id)
                .where(
                    ChannelBinding.platform == platform,
                    ChannelBinding.space == space,
                    ChannelBinding.channel == channel,
                )
            )
            return community_info(row) if row else None

    async def community_for_space(self, platform: str, space: str) -> CommunityInfo | None:
        """The one community living in a workspace/server (for DMs); None if none or several."""
        async with self._db.sessions() as session:
            rows = (
                await session.scalars(
                    select(Community)
                    .join(ChannelBinding, ChannelBinding.community_id == Community.id)
                    .where(ChannelBinding.platform == platform, ChannelBinding.space == space)
                    .distinct()
                    .limit(2)
                )
            ).all()
            return community_info(rows[0]) if len(rows) == 1 else None

    async def resolve_member(
        self, community_id: int, platform: str, user_id: str, display_name: str
    ) -> MemberInfo:
        async with self._db.sessions.begin() as session:
            return await member_for_identity(session, community_id, platform, user_id, display_name)

    async def assign_role(
        self, community_id: int, platform: str, user_id: str, role: Role
    ) -> MemberInfo:
        async with self._db.sessions.begin() as session:
            member = await member_for_identity(session, community_id, platform, user_id, user_id)
            await session.execute(update(Member).where(Member.id == member.id).values(role=role))
            return MemberInfo(member.id, community_id, member.display_name, role)


async def member_for_identity(
    session: AsyncSession, community_id: int, platform: str, user_id: str, display_name: str
) -> MemberInfo:
    """The member behind a platform identity, created on first sight (race-safe)."""
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
        return member_info(existing)
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
        return member_info(winner)
    return member_info(member)
