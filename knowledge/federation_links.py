"""Constellation links across deployments: the records behind `/constellation accept
<code>@<host>`.

The remote community is a `communities` row named `slug@host` with no members or
channels of its own; its side of the link has platform `activitypub`, space = the local
community's slug (who speaks for this side) and channel = the remote actor's id. So
links, relays, the outbox and `/relay status` treat it like any sibling. Consent is the
same as inside one deployment: the inviting steward's code, and the accepting steward's
signed Follow carrying it. Every change and the activity that reports it are written in
one transaction (knowledge/federation_queue.py), so a crash loses or repeats nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from knowledge.db import Database
from knowledge.errors import InvalidInput, NotAllowed, NotFound
from knowledge.federation_queue import Delivery, enqueue
from knowledge.links import code_hash
from knowledge.models import Community, FederatedLink, Link, LinkSide
from knowledge.vocabulary import LinkStatus

PLATFORM = "activitypub"


@dataclass(frozen=True)
class RemotePeer:
    """A remote community as its actor document describes it."""

    actor: str
    inbox: str
    slug: str  # slug@host
    name: str


@dataclass(frozen=True)
class Peer:
    """Where a linked remote community is, as the relay port needs it."""

    link_id: int
    local_community_id: int
    remote_community_id: int
    remote_actor: str
    inbox: str
    they_accepted: bool


def _peer(row: FederatedLink) -> Peer:
    return Peer(
        row.link_id,
        row.local_community_id,
        row.remote_community_id,
        row.remote_actor,
        row.remote_inbox,
        row.they_accepted,
    )


async def _shadow(session: AsyncSession, peer: RemotePeer) -> int:
    """The local row standing for the remote community (made on first link)."""
    found = await session.scalar(select(Community.id).where(Community.slug == peer.slug))
    if found is not None:
        return found
    row = Community(slug=peer.slug, name=peer.name[:200] or peer.slug)
    session.add(row)
    await session.flush()
    return row.id


def _remote_side(link_id: int, remote_id: int, local_slug: str, actor: str) -> LinkSide:
    return LinkSide(
        link_id=link_id,
        community_id=remote_id,
        platform=PLATFORM,
        space=local_slug,
        channel=actor,
    )


def _pair(a: int, b: int) -> str:
    low, high = sorted((a, b))
    return f"{low}-{high}"


_LINKED = "These two communities are already linked: see /constellation list."


class FederatedLinks:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def request(
        self,
        local: tuple[int, str],
        member_id: int,
        channel: tuple[str, str, str],
        peer: RemotePeer,
        follow: Delivery,
        now: datetime,
    ) -> int:
        """The accepting side: a link waiting for the inviter's Accept, with this side's
        consent, and the Follow carrying the code queued with it. Returns the link id."""
        local_id, local_slug = local
        platform, space, chan = channel
        try:
            async with self._db.sessions.begin() as session:
                remote_id = await _shadow(session, peer)
                waiting = await session.scalar(
                    select(Link.id)
                    .join(FederatedLink, FederatedLink.link_id == Link.id)
                    .where(
                        FederatedLink.local_community_id == local_id,
                        FederatedLink.remote_community_id == remote_id,
                        Link.status == LinkStatus.INVITED,
                    )
                )
                if waiting is not None:
                    raise InvalidInput(
                        f"This community already asked {peer.slug} to link: its answer is "
                        "awaited (see /constellation list)."
                    )
                link = Link(status=LinkStatus.INVITED, created_at=now)
                session.add(link)
                await session.flush()
                session.add_all(
                    [
                        LinkSide(
                            link_id=link.id,
                            community_id=local_id,
                            platform=platform,
                            space=space,
                            channel=chan,
                            consented_by=member_id,
                            consented_at=now,
                        ),
                        _remote_side(link.id, remote_id, local_slug, peer.actor),
                        FederatedLink(
                            link_id=link.id,
                            local_community_id=local_id,
                            remote_community_id=remote_id,
                            remote_actor=peer.actor,
                            remote_inbox=peer.inbox,
                            follow_id=str(follow.activity["id"]),
                            they_accepted=False,
                            created_at=now,
                        ),
                    ]
                )
                await self._not_linked(session, local_id, remote_id)
                await enqueue(session, [follow], now)
                return link.id
        except IntegrityError:
            raise InvalidInput(_LINKED) from None

    async def _not_linked(self, session: AsyncSession, local_id: int, remote_id: int) -> None:
        active = await session.scalar(
            select(Link.id).where(Link.pair == _pair(local_id, remote_id))
        )
        if active is not None:
            raise InvalidInput(_LINKED)

    async def invited(
        self,
        code: str,
        local: tuple[int, str],
        peer: RemotePeer,
        follow_id: str,
        deliveries: list[Delivery],
        now: datetime,
    ) -> int:
        """The inviting side: a signed Follow carried this community's code. Both stewards
        have consented, so the link is active; the Accept and this side's own Follow are
        queued with it. Returns the link id; NotFound/InvalidInput/NotAllowed otherwise."""
        local_id, local_slug = local
        try:
            async with self._db.sessions.begin() as session:
                link = await session.scalar(
                    select(Link).where(Link.code_hash == code_hash(code)).with_for_update()
                )
                if link is None or link.status != LinkStatus.INVITED:
                    raise NotFound("That invitation code is not valid: mistyped, or used.")
                if link.code_expires_at is not None and link.code_expires_at < now:
                    raise InvalidInput("That invitation has expired.")
                sides = list(
                    await session.scalars(select(LinkSide).where(LinkSide.link_id == link.id))
                )
                if [s.community_id for s in sides] != [local_id]:
                    raise NotFound("That invitation is not this community's.")
                if link.invited_slug is not None and link.invited_slug != peer.slug:
                    raise NotAllowed("That invitation is meant for another community.")
                remote_id = await _shadow(session, peer)
                await self._not_linked(session, local_id, remote_id)
                link.status = LinkStatus.ACTIVE
                link.pair = _pair(local_id, remote_id)
                link.code_hash = None  # one use only
                link.accepted_at = now
                session.add(_remote_side(link.id, remote_id, local_slug, peer.actor))
                session.add(
                    FederatedLink(
                        link_id=link.id,
                        local_community_id=local_id,
                        remote_community_id=remote_id,
                        remote_actor=peer.actor,
                        remote_inbox=peer.inbox,
                        follow_id=follow_id,
                        they_accepted=False,
                        created_at=now,
                    )
                )
                await session.flush()
                await enqueue(session, deliveries, now)
                return link.id
        except IntegrityError:
            raise InvalidInput(_LINKED) from None

    async def accepted(self, follow_id: str, actor: str, now: datetime) -> int | None:
        """The other side accepted this side's Follow: relays may go out; a link waiting
        for it becomes active. The link id when something changed."""
        async with self._db.sessions.begin() as session:
            row = await session.scalar(
                select(FederatedLink)
                .where(FederatedLink.follow_id == follow_id, FederatedLink.remote_actor == actor)
                .with_for_update()
            )
            if row is None or row.they_accepted:
                return None
            link = await session.get_one(Link, row.link_id)
            if link.status == LinkStatus.LEFT:
                return None
            row.they_accepted = True
            if link.status == LinkStatus.INVITED:
                link.status = LinkStatus.ACTIVE
                link.pair = _pair(row.local_community_id, row.remote_community_id)
                link.accepted_at = now
            return row.link_id

    async def refused(self, follow_id: str, actor: str, now: datetime) -> int | None:
        """The other side rejected this side's Follow: a waiting link ends."""
        async with self._db.sessions.begin() as session:
            row = await session.scalar(
                select(FederatedLink).where(
                    FederatedLink.follow_id == follow_id, FederatedLink.remote_actor == actor
                )
            )
            if row is None:
                return None
            link = await session.get_one(Link, row.link_id)
            if link.status == LinkStatus.LEFT:
                return None
            link.status, link.pair, link.left_at = LinkStatus.LEFT, None, now
            link.left_by = row.remote_community_id
            return row.link_id

    async def peer(self, local_slug: str, actor: str) -> Peer | None:
        """The active link between this local community and that remote actor."""
        async with self._db.sessions() as session:
            row = (
                await session.execute(
                    select(FederatedLink)
                    .join(Link, Link.id == FederatedLink.link_id)
                    .join(Community, Community.id == FederatedLink.local_community_id)
                    .where(
                        Community.slug == local_slug,
                        FederatedLink.remote_actor == actor,
                        Link.status == LinkStatus.ACTIVE,
                    )
                )
            ).scalar_one_or_none()
            if row is None:
                return None
            return _peer(row)

    async def of_link(self, link_id: int) -> Peer | None:
        async with self._db.sessions() as session:
            row = await session.get(FederatedLink, link_id)
            if row is None:
                return None
            return _peer(row)

    async def inviting(self, hashed: str, now: datetime) -> int | None:
        """The community whose open invitation has this code hash (WebFinger discovery)."""
        async with self._db.sessions() as session:
            row = (
                await session.execute(
                    select(Link.code_expires_at, LinkSide.community_id)
                    .join(LinkSide, LinkSide.link_id == Link.id)
                    .where(Link.code_hash == hashed, Link.status == LinkStatus.INVITED)
                )
            ).first()
        if row is None or (row[0] is not None and row[0] < now):
            return None
        return int(row[1])

    async def federates(self, community_id: int) -> bool:
        """Whether the community has an open invitation or a link across deployments (its
        actor is served then, even if it publishes nothing)."""
        async with self._db.sessions() as session:
            open_invite = await session.scalar(
                select(Link.id)
                .join(LinkSide, LinkSide.link_id == Link.id)
                .where(
                    LinkSide.community_id == community_id,
                    Link.status == LinkStatus.INVITED,
                    Link.code_hash.is_not(None),
                )
                .limit(1)
            )
            if open_invite is not None:
                return True
            linked = await session.scalar(
                select(FederatedLink.link_id)
                .where(FederatedLink.local_community_id == community_id)
                .limit(1)
            )
            return linked is not None
