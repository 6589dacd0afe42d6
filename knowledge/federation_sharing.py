"""Shared knowledge over links across deployments: what each linked remote community was
told (what it told us: knowledge/federation_shared_in.py).

Outbound is reconciled like public publishing (knowledge/federation.py): per link, this
side's shared insights (while both stewards share knowledge over the link, the other's
word as its Add/Remove told it) and its
adoptions of the remote's insights, compared with `federation_shared`; each change is
recorded with its deliveries in one transaction whose conditional write lets one process
queue it once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, or_, select, update
from sqlalchemy.orm import aliased

from knowledge.db import Database
from knowledge.federation_links import PLATFORM
from knowledge.federation_queue import Delivery, enqueue
from knowledge.models import (
    FederatedLink,
    FederationShared,
    Insight,
    Link,
    LinkSide,
    Source,
)
from knowledge.upsert import insert_ignoring_conflict
from knowledge.vocabulary import SHARED_VISIBILITIES, LinkStatus

ARTICLE, ANNOUNCE = "article", "announce"


@dataclass(frozen=True)
class ShareLink:
    """An active link across deployments whose remote side accepted this side's Follow."""

    link_id: int
    local_id: int
    remote_id: int
    remote_actor: str
    inbox: str
    shares: bool  # this side's steward shares knowledge over it
    paused: bool  # this side paused it: nothing new goes out (un-sharing still does)
    they_share: bool = False  # the other steward's consent, as their Add/Remove told it
    they_paused: bool = False  # the other side paused it, as their Add/Remove told it
    told: tuple[bool, bool] = (False, False)  # (shares, paused) as this side last told it
    consent_seq: int = 0  # how many such changes this side sent

    @property
    def mutual(self) -> bool:
        """Both stewards share knowledge over the link: only then do insights go out."""
        return self.shares and self.they_share


@dataclass(frozen=True)
class Told:
    insight_id: int
    object_id: str | None
    generation: int


@dataclass(frozen=True)
class ShareChanges:
    new: list[int]
    edited: list[int]
    withdrawn: list[Told]
    adopted: list[tuple[int, str]]  # (our copy, their Article's id)
    unadopted: list[Told]


class FederatedSharing:
    def __init__(self, database: Database) -> None:
        self._db = database

    # -- outbound -------------------------------------------------------------------------

    async def links(self) -> list[ShareLink]:
        theirs = aliased(LinkSide)
        async with self._db.sessions() as session:
            rows = (
                await session.execute(
                    select(
                        FederatedLink,
                        LinkSide.shares_knowledge,
                        LinkSide.paused,
                        theirs.shares_knowledge,
                        theirs.paused,
                    )
                    .join(Link, Link.id == FederatedLink.link_id)
                    .join(
                        LinkSide,
                        and_(
                            LinkSide.link_id == Link.id,
                            LinkSide.community_id == FederatedLink.local_community_id,
                        ),
                    )
                    .join(
                        theirs,
                        and_(
                            theirs.link_id == Link.id,
                            theirs.community_id == FederatedLink.remote_community_id,
                        ),
                    )
                    .where(Link.status == LinkStatus.ACTIVE, FederatedLink.they_accepted)
                    .order_by(FederatedLink.link_id)
                )
            ).all()
        return [
            ShareLink(
                f.link_id,
                f.local_community_id,
                f.remote_community_id,
                f.remote_actor,
                f.remote_inbox,
                bool(shares),
                bool(paused),
                bool(they_share),
                bool(they_paused),
                (f.told_shares, f.told_paused),
                f.consent_seq,
            )
            for f, shares, paused, they_share, they_paused in rows
        ]

    async def changes(self, link: ShareLink) -> ShareChanges:
        told = FederationShared
        async with self._db.sessions() as session:
            shared: set[int] = set()
            if link.mutual:  # withdrawn (Delete) as soon as either steward stops
                shared = set(
                    await session.scalars(
                        select(Insight.id).where(
                            Insight.community_id == link.local_id,
                            Insight.visibility.in_(SHARED_VISIBILITIES),
                            Insight.origin_insight_id.is_(None),
                        )
                    )
                )
            origin = Insight.__table__.alias("origin")
            adopted = {
                copy_id: object_id
                for copy_id, object_id in (
                    await session.execute(
                        select(Insight.id, Source.message_id)
                        .join(origin, origin.c.id == Insight.origin_insight_id)
                        .join(Source, Source.id == origin.c.source_id)
                        .where(
                            Insight.community_id == link.local_id,
                            Insight.origin_community_id == link.remote_id,
                            origin.c.community_id == link.remote_id,
                            Source.platform == PLATFORM,
                        )
                    )
                ).all()
            }
            rows = (
                await session.scalars(
                    select(told).where(told.link_id == link.link_id, told.withdrawn_at.is_(None))
                )
            ).all()
            edited = set(
                await session.scalars(
                    select(told.insight_id)
                    .join(Insight, Insight.id == told.insight_id)
                    .where(
                        told.link_id == link.link_id,
                        told.kind == ARTICLE,
                        told.withdrawn_at.is_(None),
                        Insight.updated_at > told.insight_updated_at,
                    )
                )
            )
        articles = {r.insight_id: r for r in rows if r.kind == ARTICLE}
        announces = {r.insight_id: r for r in rows if r.kind == ANNOUNCE}
        # a pause on either side: what was told stays; what changed waits for the resume
        held = link.paused or link.they_paused
        return ShareChanges(
            new=[] if held else sorted(shared - set(articles)),
            edited=[] if held else sorted(edited & shared),
            withdrawn=[_told(articles[i]) for i in sorted(set(articles) - shared)],
            adopted=[(i, adopted[i]) for i in sorted(set(adopted) - set(announces))],
            unadopted=[_told(announces[i]) for i in sorted(set(announces) - set(adopted))],
        )

    async def generation(self, link_id: int, insight_id: int) -> int:
        """The generation the next Create of this insight carries (1, then one more per
        re-share after a withdrawal)."""
        async with self._db.sessions() as session:
            row = await session.get(FederationShared, (link_id, insight_id))
            return 1 if row is None else row.generation + 1

    async def tell(
        self,
        link_id: int,
        told: tuple[int, str, str | None],
        version: datetime | None,
        deliveries: list[Delivery],
        now: datetime,
    ) -> bool:
        """Record that the remote was told `told` = (insight, kind, object id) as of
        `version`, with the deliveries that tell it (Create, Update or Announce); False
        when another process recorded this change first."""
        insight_id, kind, object_id = told
        row = FederationShared
        async with self._db.sessions.begin() as session:
            inserted = await session.execute(
                insert_ignoring_conflict(
                    session,
                    row,
                    {
                        "link_id": link_id,
                        "insight_id": insight_id,
                        "kind": kind,
                        "object_id": object_id,
                        "insight_updated_at": version,
                        "generation": 1,
                        "told_at": now,
                    },
                    ["link_id", "insight_id"],
                )
            )
            if not getattr(inserted, "rowcount", 0):
                mine = and_(row.link_id == link_id, row.insight_id == insight_id)
                renewed = or_(row.withdrawn_at.is_not(None), row.insight_updated_at < version)
                changed = await session.execute(
                    update(row)
                    .where(mine, renewed)
                    .values(
                        generation=case(
                            (row.withdrawn_at.is_not(None), row.generation + 1),
                            else_=row.generation,
                        ),
                        withdrawn_at=None,
                        insight_updated_at=version,
                        told_at=now,
                    )
                )
                if not getattr(changed, "rowcount", 0):
                    return False
            await enqueue(session, deliveries, now)
            return True

    async def untell(
        self, link_id: int, insight_id: int, deliveries: list[Delivery], now: datetime
    ) -> bool:
        """Record a withdrawal (Delete) or un-adoption (Undo) and queue it, once."""
        row = FederationShared
        async with self._db.sessions.begin() as session:
            changed = await session.execute(
                update(row)
                .where(
                    row.link_id == link_id,
                    row.insight_id == insight_id,
                    row.withdrawn_at.is_(None),
                )
                .values(withdrawn_at=now)
            )
            if not getattr(changed, "rowcount", 0):
                return False
            await enqueue(session, deliveries, now)
            return True

    async def tell_consent(
        self, link: ShareLink, deliveries: list[Delivery], now: datetime
    ) -> bool:
        """Record that the other side was told this side's sharing and pause as they are
        now, with the Add/Remove that tell it; False when another process did it first."""
        row = FederatedLink
        async with self._db.sessions.begin() as session:
            changed = await session.execute(
                update(row)
                .where(
                    row.link_id == link.link_id,
                    row.consent_seq == link.consent_seq,
                )
                .values(
                    told_shares=link.shares,
                    told_paused=link.paused,
                    consent_seq=link.consent_seq + 1,
                )
            )
            if not getattr(changed, "rowcount", 0):
                return False
            await enqueue(session, deliveries, now)
            return True


def _told(row: FederationShared) -> Told:
    return Told(row.insight_id, row.object_id, row.generation)
