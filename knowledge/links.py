"""Links between communities: invitations, consent on both sides, pause, scope, leave.

Consent is structural: a link is active only once a steward of each community acted (the
invitation creates one side, accepting creates the other), and `route` is the one
question every relay asks before it queues or delivers anything.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from knowledge.db import Database
from knowledge.errors import InvalidInput, NotAllowed, NotFound
from knowledge.link_views import LinkView as LinkView
from knowledge.link_views import Side as Side
from knowledge.link_views import views_on_thread
from knowledge.models import Community, Link, LinkSide, OutboxItem
from knowledge.sqlite_thread import in_session_on_thread, time_reader
from knowledge.vocabulary import LinkStatus, OutboxStatus

INVITE_LIFETIME = timedelta(days=7)
_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read aloud, typed by hand


def new_code() -> str:
    groups = ("".join(secrets.choice(_ALPHABET) for _ in range(4)) for _ in range(3))
    return "HL-" + "-".join(groups)


def code_hash(code: str) -> str:
    """Codes are stored hashed: a leaked database does not leak a usable invitation."""
    normal = code.strip().upper().replace(" ", "")
    return hashlib.sha256(normal.encode()).hexdigest()


class LinkStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def invite(
        self,
        community_id: int,
        member_id: int,
        channel: tuple[str, str, str],
        *,
        now: datetime,
        sends: bool = True,
        receives: bool = True,
        whole_channel: bool = False,
        for_slug: str | None = None,
    ) -> tuple[LinkView, str]:
        """A pending link and its one-time code (shown once, stored only as a hash)."""
        code = new_code()
        async with self._db.sessions.begin() as session:
            link = Link(
                status=LinkStatus.INVITED,
                code_hash=code_hash(code),
                code_expires_at=now + INVITE_LIFETIME,
                whole_channel=whole_channel,
                created_at=now,
                invited_slug=for_slug,
            )
            session.add(link)
            await session.flush()
            session.add(_consent(link, community_id, member_id, channel, now, sends, receives))
            await session.flush()
            return await self._view(session, link), code

    async def accept(
        self,
        code: str,
        community_id: int,
        member_id: int,
        channel: tuple[str, str, str],
        *,
        now: datetime,
    ) -> LinkView:
        try:
            async with self._db.sessions.begin() as session:
                link = await session.scalar(
                    select(Link).where(Link.code_hash == code_hash(code)).with_for_update()
                )
                if link is None or link.status != LinkStatus.INVITED:
                    raise NotFound(
                        "That invitation code is not valid: it may be mistyped, or already used."
                    )
                if link.code_expires_at is not None and link.code_expires_at < now:
                    raise InvalidInput(
                        "That invitation has expired: ask the other steward for a new one."
                    )
                inviter = await session.scalar(
                    select(LinkSide.community_id).where(LinkSide.link_id == link.id)
                )
                assert inviter is not None
                if inviter == community_id:
                    raise InvalidInput(
                        "That invitation came from this community: give the code to a "
                        "steward of the community you want to link with."
                    )
                if link.invited_slug is not None:
                    slug = await session.scalar(
                        select(Community.slug).where(Community.id == community_id)
                    )
                    if slug != link.invited_slug:
                        raise NotAllowed(
                            "That invitation is meant for another community; ask its "
                            "steward for one made for this community."
                        )
                low, high = sorted((inviter, community_id))
                link.status = LinkStatus.ACTIVE
                link.pair = f"{low}-{high}"
                link.code_hash = None  # one use only
                link.accepted_at = now
                session.add(_consent(link, community_id, member_id, channel, now))
                await session.flush()
                return await self._view(session, link)
        except IntegrityError:
            raise InvalidInput(
                "These two communities are already linked: see /constellation list."
            ) from None

    async def links_of(self, community_id: int, *, include_left: bool = False) -> list[LinkView]:
        async with self._db.sessions() as session:
            query = (
                select(Link)
                .join(LinkSide, LinkSide.link_id == Link.id)
                .where(LinkSide.community_id == community_id)
                .order_by(Link.id)
            )
            if not include_left:
                query = query.where(Link.status != LinkStatus.LEFT)
            links = (await session.scalars(query)).all()
            return await self._views(session, [link.id for link in links])

    async def get(self, link_id: int) -> LinkView | None:
        async with self._db.sessions() as session:
            link = await session.get(Link, link_id)
            return None if link is None else await self._view(session, link)

    async def find(self, community_id: int, other: str) -> LinkView:
        """A link of this community named by the other community's slug or name, or its id."""
        wanted = other.strip().lstrip("#").casefold()
        for link in await self.links_of(community_id):
            sibling = link.other(community_id)
            names = {str(link.id)}
            if sibling is not None:
                names |= {sibling.slug.casefold(), sibling.name.casefold()}
            if wanted in names:
                return link
        raise NotFound(
            f"This community has no link with “{other}”: /constellation list shows its links."
        )

    async def links_between(
        self, community_ids: set[int], *, session: AsyncSession | None = None
    ) -> list[LinkView]:
        """Active links among these communities (paused ones too: callers check `carries`);
        in `session` when given (one read transaction with the caller's)."""
        touching = (
            select(LinkSide.link_id)
            .join(Link, Link.id == LinkSide.link_id)
            .where(Link.status == LinkStatus.ACTIVE, LinkSide.community_id.in_(community_ids))
        )
        if session is not None and self._db.dialect == "sqlite":  # the live path: one hop
            ids = sorted(community_ids)
            where = "l2.status = ? AND s2.community_id IN (" + ", ".join("?" * len(ids)) + ")"
            question = (where, (LinkStatus.ACTIVE.value, *ids), time_reader(self._db))
            links = await in_session_on_thread(session, views_on_thread, question)
        elif session is not None:
            links = await self._views(session, touching)  # one statement
        else:
            async with self._db.sessions() as own:
                links = await self._views(own, touching)
        return [link for link in links if {s.community_id for s in link.sides} <= community_ids]

    async def whole_channel_links(
        self, channel: tuple[str, str, str], *, session: AsyncSession | None = None
    ) -> list[LinkView]:
        """Active links that relay every thread of this channel (in `session` if given)."""
        platform, space, chan = channel
        matching = (
            select(Link.id)
            .join(LinkSide, LinkSide.link_id == Link.id)
            .where(
                Link.status == LinkStatus.ACTIVE,
                Link.whole_channel.is_(True),
                LinkSide.platform == platform,
                LinkSide.space == space,
                LinkSide.channel == chan,
            )
        )
        if session is not None and self._db.dialect == "sqlite":  # the live path: one hop
            where = "l2.status = ? AND l2.whole_channel = 1 AND s2.platform = ? AND s2.space = ?"
            where += " AND s2.channel = ?"
            question = (where, (LinkStatus.ACTIVE.value, *channel), time_reader(self._db))
            return await in_session_on_thread(session, views_on_thread, question)
        if session is not None:
            return await self._views(session, matching)  # one statement
        async with self._db.sessions() as own:
            return await self._views(own, matching)

    async def set_paused(
        self, link_id: int, community_id: int, paused: bool, now: datetime
    ) -> None:
        async with self._db.sessions.begin() as session:
            await session.execute(
                update(LinkSide)
                .where(LinkSide.link_id == link_id, LinkSide.community_id == community_id)
                .values(paused=paused)
            )
            if not paused:  # what waited for the pause to end goes now
                await session.execute(
                    update(OutboxItem)
                    .where(OutboxItem.link_id == link_id, OutboxItem.status == OutboxStatus.PENDING)
                    .values(next_attempt_at=now)
                )

    async def set_scope(
        self,
        link_id: int,
        community_id: int,
        *,
        sends: bool | None = None,
        receives: bool | None = None,
        channel: tuple[str, str, str] | None = None,
        whole_channel: bool | None = None,
        shares_knowledge: bool | None = None,
    ) -> LinkView:
        async with self._db.sessions.begin() as session:
            values: dict[str, object] = {}
            if sends is not None:
                values["sends"] = sends
            if receives is not None:
                values["receives"] = receives
            if shares_knowledge is not None:
                values["shares_knowledge"] = shares_knowledge
            if channel is not None:
                values |= dict(zip(("platform", "space", "channel"), channel, strict=True))
            if values:
                await session.execute(
                    update(LinkSide)
                    .where(LinkSide.link_id == link_id, LinkSide.community_id == community_id)
                    .values(**values)
                )
            link = await session.get_one(Link, link_id)
            if whole_channel is not None:
                link.whole_channel = whole_channel
            await session.flush()
            return await self._view(session, link)

    async def leave(self, link_id: int, community_id: int, now: datetime) -> int:
        """End the link for good; what it still had queued is cancelled at once.

        Returns how many queued relays were cancelled.
        """
        async with self._db.sessions.begin() as session:
            await session.execute(
                update(Link)
                .where(Link.id == link_id)
                .values(
                    status=LinkStatus.LEFT,
                    pair=None,
                    code_hash=None,
                    left_at=now,
                    left_by=community_id,
                )
            )
            cancelled = await session.execute(
                update(OutboxItem)
                .where(
                    OutboxItem.link_id == link_id,
                    or_(
                        OutboxItem.status == OutboxStatus.PENDING,
                        OutboxItem.status == OutboxStatus.PARKED,
                    ),
                )
                .values(status=OutboxStatus.CANCELLED, last_error="the link was left")
            )
            return int(getattr(cancelled, "rowcount", 0) or 0)

    async def _view(self, session: AsyncSession, link: Link) -> LinkView:
        (view,) = await self._views(session, [link.id])
        return view

    async def _views(
        self, session: AsyncSession, ids: Sequence[int] | Select[Any]
    ) -> list[LinkView]:
        """Links with their sides and communities, in one query (ids: a list or a SELECT)."""
        if isinstance(ids, Sequence) and not ids:
            return []
        rows = (
            await session.execute(
                select(Link, LinkSide, Community)
                .join(LinkSide, LinkSide.link_id == Link.id)
                .join(Community, Community.id == LinkSide.community_id)
                .where(Link.id.in_(ids))
                .order_by(Link.id, LinkSide.id)
            )
        ).all()
        grouped: dict[int, tuple[Link, list[Side]]] = {}
        for link, side, community in rows:
            grouped.setdefault(link.id, (link, []))[1].append(_side(side, community))
        return [
            LinkView(link.id, link.status, link.whole_channel, tuple(sides), link.code_expires_at)
            for link, sides in grouped.values()
        ]


def _consent(
    link: Link,
    community_id: int,
    member_id: int,
    channel: tuple[str, str, str],
    now: datetime,
    sends: bool = True,
    receives: bool = True,
) -> LinkSide:
    """One community's end of a link, as a steward of it agreed to it."""
    platform, space, chan = channel
    return LinkSide(
        link_id=link.id,
        community_id=community_id,
        platform=platform,
        space=space,
        channel=chan,
        sends=sends,
        receives=receives,
        consented_by=member_id,
        consented_at=now,
    )


def _side(side: LinkSide, community: Community) -> Side:
    return Side(
        side.community_id,
        community.slug,
        community.name,
        side.platform,
        side.space,
        side.channel,
        side.sends,
        side.receives,
        side.paused,
        side.shares_knowledge,
    )
