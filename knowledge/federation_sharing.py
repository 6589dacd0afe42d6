"""Shared knowledge over links across deployments: what each linked remote community was
told (outbound) and what it told us (inbound).

Outbound is reconciled like public publishing (knowledge/federation.py): per link, this
side's shared insights (while its steward shares knowledge over the link) and its
adoptions of the remote's insights, compared with `federation_shared`; each change is
recorded with its deliveries in one transaction whose conditional write lets one process
queue it once. Inbound, a remote community's shared insight is a row of its local
`slug@host` community, so search, /ask, digests and adoption treat it as a sibling's
inside one deployment; a remote adoption of ours is a copy in that row's community, as a
local sibling's adoption would be.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from knowledge.db import Database
from knowledge.federation_links import PLATFORM, Peer
from knowledge.federation_queue import Delivery, enqueue
from knowledge.insight_rows import follow_origin, origin_withdrawn, set_tags
from knowledge.models import (
    Community,
    FederatedLink,
    FederationShared,
    Insight,
    Link,
    LinkSide,
    Member,
    Source,
)
from knowledge.tags import normalize_tags
from knowledge.upsert import insert_ignoring_conflict
from knowledge.views import FORGOTTEN_NAME
from knowledge.vocabulary import SHARED_VISIBILITIES, LinkStatus, Visibility

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


@dataclass(frozen=True)
class RemoteArticle:
    object_id: str
    title: str | None
    body: str
    tags: tuple[str, ...]
    credit: str  # "author (slug@host)"
    url: str | None


class FederatedSharing:
    def __init__(self, database: Database) -> None:
        self._db = database

    # -- outbound -------------------------------------------------------------------------

    async def links(self) -> list[ShareLink]:
        async with self._db.sessions() as session:
            rows = (
                await session.execute(
                    select(FederatedLink, LinkSide.shares_knowledge)
                    .join(Link, Link.id == FederatedLink.link_id)
                    .join(
                        LinkSide,
                        and_(
                            LinkSide.link_id == Link.id,
                            LinkSide.community_id == FederatedLink.local_community_id,
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
            )
            for f, shares in rows
        ]

    async def changes(self, link: ShareLink) -> ShareChanges:
        told = FederationShared
        async with self._db.sessions() as session:
            shared: set[int] = set()
            if link.shares:
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
        return ShareChanges(
            new=sorted(shared - set(articles)),
            edited=sorted(edited & shared),
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

    # -- inbound --------------------------------------------------------------------------

    async def received(
        self, peer: Peer, local_slug: str, article: RemoteArticle, now: datetime
    ) -> str:
        """A linked remote community's shared insight, new or edited: a row of its local
        community, visible to siblings as theirs (`constellation`; never our `public`)."""
        async with self._db.sessions.begin() as session:
            source_id = await _source(session, peer, local_slug, article, now)
            row = await session.scalar(
                select(Insight).where(
                    Insight.community_id == peer.remote_community_id,
                    Insight.source_id == source_id,
                )
            )
            if row is None:
                row = Insight(
                    community_id=peer.remote_community_id,
                    source_id=source_id,
                    title=article.title,
                    body=article.body,
                    created_at=now,
                    updated_at=now,
                    visibility=Visibility.CONSTELLATION,
                    shared_at=now,
                    origin_credit=article.credit,
                )
                session.add(row)
                await session.flush()
                await set_tags(
                    session,
                    peer.remote_community_id,
                    row.id,
                    normalize_tags(article.tags),
                    fresh=True,
                )
                outcome = "shared: new"
            elif (row.title, row.body) == (article.title, article.body):
                return "shared: unchanged"
            else:
                row.title, row.body, row.updated_at = article.title, article.body, now
                row.origin_credit = article.credit
                await set_tags(
                    session, peer.remote_community_id, row.id, normalize_tags(article.tags)
                )
                await session.flush()
                await follow_origin(session, row)
                outcome = "shared: edited"
            await _they_share(session, peer)  # only a sharing side sends its insights
            return outcome

    async def withdrawn(self, peer: Peer, object_id: str) -> bool:
        """Their Delete of an insight they had shared: gone here, copies keep a note."""
        async with self._db.sessions.begin() as session:
            row = await _remote_insight(session, peer, object_id)
            if row is None:
                return False
            await origin_withdrawn(session, row.id, "un-shared")
            await session.delete(row)
            return True

    async def adopted(self, peer: Peer, insight_id: int, now: datetime) -> str:
        """The remote community adopted our shared insight: its copy, as a local
        sibling's adoption would be (counted in /constellation knowledge)."""
        async with self._db.sessions.begin() as session:
            origin = await session.scalar(
                select(Insight).where(
                    Insight.id == insight_id,
                    Insight.community_id == peer.local_community_id,
                    Insight.visibility.in_(SHARED_VISIBILITIES),
                    Insight.origin_insight_id.is_(None),
                )
            )
            sharing = await session.scalar(
                select(LinkSide.shares_knowledge).where(
                    LinkSide.link_id == peer.link_id,
                    LinkSide.community_id == peer.local_community_id,
                )
            )
            if origin is None or not sharing:
                return "ignored: not an insight shared with them"
            author = await session.scalar(
                select(Member.display_name).where(
                    Member.id == origin.author_member_id, Member.forgotten_at.is_(None)
                )
            )
            name = await session.scalar(
                select(Community.name).where(Community.id == origin.community_id)
            )
            credit = f"{author or FORGOTTEN_NAME} ({name})"
            inserted = await session.execute(
                insert_ignoring_conflict(
                    session,
                    Insight,
                    {
                        "community_id": peer.remote_community_id,
                        "source_id": origin.source_id,
                        "title": origin.title,
                        "body": origin.body,
                        "created_at": now,
                        "updated_at": now,
                        "visibility": Visibility.COMMUNITY.value,
                        "origin_insight_id": origin.id,
                        "origin_community_id": origin.community_id,
                        "origin_credit": credit[:300],
                    },
                    ["community_id", "source_id"],
                )
            )
            await _they_share(session, peer)  # only a sharing side can adopt
            return "adopted" if getattr(inserted, "rowcount", 0) else "adopted: seen before"

    async def unadopted(self, peer: Peer, insight_id: int) -> bool:
        async with self._db.sessions.begin() as session:
            gone = await session.execute(
                delete(Insight).where(
                    Insight.community_id == peer.remote_community_id,
                    Insight.origin_insight_id == insight_id,
                )
            )
            return bool(getattr(gone, "rowcount", 0))


async def _they_share(session: AsyncSession, peer: Peer) -> None:
    """The remote steward's consent, as its deployment showed it: the remote side of the
    link shares knowledge (their steward's `/constellation share` is not sent itself)."""
    await session.execute(
        update(LinkSide)
        .where(
            LinkSide.link_id == peer.link_id,
            LinkSide.community_id == peer.remote_community_id,
            LinkSide.shares_knowledge.is_(False),
        )
        .values(shares_knowledge=True)
    )


def _told(row: FederationShared) -> Told:
    return Told(row.insight_id, row.object_id, row.generation)


async def _source(
    session: AsyncSession, peer: Peer, local_slug: str, article: RemoteArticle, now: datetime
) -> int:
    """Where a remote insight came from: its Article, kept as a source message."""
    key = {
        "platform": PLATFORM,
        "space": local_slug,
        "channel": peer.remote_actor[:255],
        "message_id": article.object_id[:255],
    }
    await session.execute(
        insert_ignoring_conflict(
            session,
            Source,
            {
                **key,
                "community_id": peer.remote_community_id,
                "text": article.body,
                "permalink": article.url,
                "posted_at": now,
            },
            ["platform", "space", "channel", "message_id"],
        )
    )
    found = await session.scalar(
        select(Source.id).where(*(getattr(Source, k) == v for k, v in key.items()))
    )
    assert found is not None
    return found


async def _remote_insight(session: AsyncSession, peer: Peer, object_id: str) -> Insight | None:
    found: Insight | None = await session.scalar(
        select(Insight)
        .join(Source, Source.id == Insight.source_id)
        .where(
            Insight.community_id == peer.remote_community_id,
            Source.platform == PLATFORM,
            Source.channel == peer.remote_actor[:255],
            Source.message_id == object_id[:255],
        )
    )
    return found
