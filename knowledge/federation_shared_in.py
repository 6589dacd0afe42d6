"""Shared knowledge a linked community on another deployment told us.

Its shared insight is a row of its local `slug@host` community, so search, /ask, digests
and adoption treat it as a sibling's inside one deployment; its adoption of ours is a copy
in that community, as a local sibling's adoption would be. Each write is idempotent (the
Article's id is a source row; a copy is unique per community and source).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from knowledge.db import Database
from knowledge.federation_links import PLATFORM, Peer
from knowledge.insight_rows import follow_origin, origin_withdrawn, set_tags
from knowledge.models import Community, Insight, LinkSide, Member, Source
from knowledge.tags import normalize_tags
from knowledge.upsert import insert_ignoring_conflict
from knowledge.views import FORGOTTEN_NAME
from knowledge.vocabulary import SHARED_VISIBILITIES, Visibility


@dataclass(frozen=True)
class RemoteArticle:
    object_id: str
    title: str | None
    body: str
    tags: tuple[str, ...]
    credit: str  # "author (slug@host)"
    url: str | None


class SharedInbound:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def received(
        self, peer: Peer, local_slug: str, article: RemoteArticle, now: datetime
    ) -> str:
        """A linked remote community's shared insight, new or edited: a row of its local
        community, visible to siblings as theirs (`constellation`; never our `public`)."""
        async with self._db.sessions.begin() as session:
            if not await _both_share(session, peer):
                return "ignored: knowledge sharing is not on at both sides"
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
                await session.execute(
                    update(Source).where(Source.id == source_id).values(text=article.body)
                )
                row.origin_credit = article.credit
                await set_tags(
                    session, peer.remote_community_id, row.id, normalize_tags(article.tags)
                )
                await session.flush()
                await follow_origin(session, row)
                outcome = "shared: edited"
            return outcome

    async def withdrawn(self, peer: Peer, object_id: str) -> bool:
        """Their Delete of an insight they had shared: gone here, copies keep a note."""
        async with self._db.sessions.begin() as session:
            row = await _remote_insight(session, peer, object_id)
            if row is None:
                return False
            await origin_withdrawn(session, row.id, "un-shared")
            source_id = row.source_id
            await session.delete(row)
            await session.flush()
            used = select(Insight.id).where(Insight.source_id == source_id).exists()
            # its words leave with it (a copy here keeps only the credit and the note)
            await session.execute(delete(Source).where(Source.id == source_id, ~used))
            return True

    async def left(self, peer: Peer) -> int:
        """The link ended (either side left): what came over it goes, as the other side
        will not send its Deletes any more. Their shared insights and their copies of
        ours; our adopted copies of theirs stay, credited, as after leaving a link inside
        one deployment. Idempotent; how many rows went."""
        async with self._db.sessions.begin() as session:
            slug = select(Community.slug).where(Community.id == peer.local_community_id)
            over_link = (
                Source.platform == PLATFORM,
                Source.space == slug.scalar_subquery(),
                Source.channel == peer.remote_actor[:255],
            )
            ids = list(
                await session.scalars(
                    select(Insight.id)
                    .join(Source, Source.id == Insight.source_id)
                    .where(Insight.community_id == peer.remote_community_id, *over_link)
                )
            )
            theirs_of_ours = and_(
                Insight.origin_insight_id.is_not(None),
                Insight.origin_community_id == peer.local_community_id,
            )
            gone = await session.execute(
                delete(Insight).where(
                    Insight.community_id == peer.remote_community_id,
                    or_(Insight.id.in_(ids), theirs_of_ours),
                )
            )
            used = select(Insight.id).where(Insight.source_id == Source.id).exists()
            await session.execute(delete(Source).where(*over_link, ~used))
            return int(getattr(gone, "rowcount", 0) or 0)

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
            if origin is None or not await _both_share(session, peer):
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


async def _both_share(session: AsyncSession, peer: Peer) -> bool:
    """Both stewards share knowledge over the link (theirs as their Add/Remove told it):
    a share or adoption sent before either side's word arrived is not kept."""
    sharing = await session.scalars(
        select(LinkSide.shares_knowledge).where(LinkSide.link_id == peer.link_id)
    )
    return all(sharing)


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
