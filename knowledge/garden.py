"""Read-only queries for the public knowledge garden (bot/garden): only `public` insights.

Every query here restricts insights to `visibility = 'public'` itself, so the web layer
cannot forget to. Counts (a community's size, tags, weeks, adoptions in the constellation
graph) are counts of public insights only. Names follow the store's rules: a member who
used /forget-me is "a former member" (their own insights are gone), an adopted copy shows
its credit. Source channels and permalinks are never handed out: a channel's name or a
Matrix room alias inside a link could say more than the community chose to publish.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, cast, func, literal, select, text
from sqlalchemy.orm import aliased

from knowledge.db import Database
from knowledge.models import (
    ChannelBinding,
    Community,
    Insight,
    InsightRevision,
    InsightTag,
    Link,
    LinkSide,
    Member,
    RelayParticipant,
    Ritual,
    RitualResponse,
    RitualRound,
    Source,
    Tag,
)
from knowledge.schema_extras import POSTGRES_TSVECTOR, SQLITE_FTS_TABLE
from knowledge.search import SearchBackend, SearchPage, SearchQuery
from knowledge.views import FORGOTTEN_NAME
from knowledge.vocabulary import LinkStatus, Visibility

PUBLIC = Visibility.PUBLIC.value
SITEMAP_LIMIT = 50_000  # URLs in one sitemap file (sitemaps.org)


def _public() -> Any:
    return Insight.visibility == PUBLIC


@dataclass(frozen=True)
class PublicCommunity:
    id: int
    slug: str
    name: str
    public_insights: int
    platforms: tuple[str, ...]
    updated_at: datetime | None  # the newest change among its public insights


@dataclass(frozen=True)
class ConstellationEdge:
    a: int  # community ids, a < b
    b: int
    relayed_threads: int
    adopted: int  # copies of public insights, either way


@dataclass(frozen=True)
class InsightCard:
    """An insight as listed: enough for a card, a feed entry or a sitemap line."""

    id: int
    community_id: int
    title: str | None
    body: str
    tags: tuple[str, ...]
    author_name: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class CommunityRef:
    slug: str
    name: str


@dataclass(frozen=True)
class PublicInsight:
    card: InsightCard
    source_platform: str
    source_deleted: bool
    revisions: int
    adopted_by: tuple[CommunityRef, ...]  # publishing communities that keep a copy
    adopted_elsewhere: int  # copies kept by communities that publish nothing
    adopted_from: tuple[CommunityRef, int] | None  # the public origin of a copy


@dataclass(frozen=True)
class RitualSummary:
    name: str
    kind: str
    schedule: str
    participants: int  # distinct people who answered in the last 8 weeks
    rounds: int  # rounds closed in the last 8 weeks


@dataclass(frozen=True)
class SitemapEntry:
    slug: str
    insight_id: int
    updated_at: datetime


class GardenStore:
    def __init__(self, database: Database, search: SearchBackend) -> None:
        self._db = database
        self._search = search

    # -- communities and the constellation --------------------------------------------------

    async def communities(self) -> list[PublicCommunity]:
        """Communities with at least one public insight, largest first."""
        return await self._communities()

    async def publishing(self) -> list[PublicCommunity]:
        """Communities with a public insight, by name; presence only (one index seek per
        community), counts left at 0. For the search form and the graph's exact set."""
        publishes = (
            select(Insight.id).where(Insight.community_id == Community.id, _public()).exists()
        )
        async with self._db.sessions() as session:
            rows = (
                await session.execute(
                    select(Community.id, Community.slug, Community.name)
                    .where(publishes)
                    .order_by(Community.name)
                )
            ).all()
        return [PublicCommunity(cid, slug, name, 0, (), None) for cid, slug, name in rows]

    async def community(self, slug: str) -> PublicCommunity | None:
        """The community if it publishes anything. Cheap (index seeks, no count): every
        page under /c/<slug>/ asks; `public_insights` is filled by `count` where shown."""
        publishes = (
            select(Insight.id).where(Insight.community_id == Community.id, _public()).exists()
        )
        async with self._db.sessions() as session:
            row = (
                await session.execute(
                    select(Community.id, Community.slug, Community.name).where(
                        Community.slug == slug, publishes
                    )
                )
            ).one_or_none()
            if row is None:
                return None
            platforms = tuple(
                sorted(
                    await session.scalars(
                        select(ChannelBinding.platform)
                        .where(ChannelBinding.community_id == row[0])
                        .distinct()
                    )
                )
            )
        return PublicCommunity(row[0], row[1], row[2], 0, platforms, None)

    async def _communities(self) -> list[PublicCommunity]:
        counts = (
            select(
                Insight.community_id,
                func.count(Insight.id).label("n"),
                func.max(Insight.updated_at).label("updated"),
            )
            .where(_public())
            .group_by(Insight.community_id)
            .subquery()
        )
        statement = (
            select(Community.id, Community.slug, Community.name, counts.c.n, counts.c.updated)
            .join(counts, counts.c.community_id == Community.id)
            .order_by(counts.c.n.desc(), Community.name)
        )
        async with self._db.sessions() as session:
            rows = (await session.execute(statement)).all()
            ids = [row[0] for row in rows]
            platforms: dict[int, set[str]] = {}
            for community_id, platform in (
                await session.execute(
                    select(ChannelBinding.community_id, ChannelBinding.platform)
                    .where(ChannelBinding.community_id.in_(ids))
                    .distinct()
                )
            ).all():
                platforms.setdefault(community_id, set()).add(platform)
        return [
            PublicCommunity(
                cid, cslug, name, int(n), tuple(sorted(platforms.get(cid, ()))), updated
            )
            for cid, cslug, name, n, updated in rows
        ]

    async def edges(self, community_ids: Sequence[int]) -> list[ConstellationEdge]:
        """Between the given (publishing) communities: threads relayed between them and
        copies of public insights one adopted from the other; active links with neither
        still count as an edge of weight zero."""
        ids = list(community_ids)
        if len(ids) < 2:
            return []
        one, two = aliased(RelayParticipant), aliased(RelayParticipant)
        origin = aliased(Insight)
        side_a, side_b = aliased(LinkSide), aliased(LinkSide)
        async with self._db.sessions() as session:
            relayed = (
                await session.execute(
                    select(
                        one.community_id,
                        two.community_id,
                        func.count(func.distinct(one.relay_thread_id)),
                    )
                    .join(two, two.relay_thread_id == one.relay_thread_id)
                    .where(
                        one.community_id < two.community_id,
                        one.community_id.in_(ids),
                        two.community_id.in_(ids),
                    )
                    .group_by(one.community_id, two.community_id)
                )
            ).all()
            adopted = (
                await session.execute(
                    select(Insight.community_id, origin.community_id, func.count(Insight.id))
                    .join(origin, origin.id == Insight.origin_insight_id)
                    .where(
                        origin.visibility == PUBLIC,
                        Insight.community_id.in_(ids),
                        origin.community_id.in_(ids),
                    )
                    .group_by(Insight.community_id, origin.community_id)
                )
            ).all()
            linked = (
                await session.execute(
                    select(side_a.community_id, side_b.community_id)
                    .join(side_b, side_b.link_id == side_a.link_id)
                    .join(Link, Link.id == side_a.link_id)
                    .where(
                        Link.status == LinkStatus.ACTIVE,
                        side_a.community_id < side_b.community_id,
                        side_a.community_id.in_(ids),
                        side_b.community_id.in_(ids),
                    )
                    .distinct()
                )
            ).all()
        weights: dict[tuple[int, int], list[int]] = {}
        for a, b in linked:
            weights.setdefault((a, b), [0, 0])
        for a, b, n in relayed:
            weights.setdefault((a, b), [0, 0])[0] += int(n)
        for holder, source, n in adopted:
            key = (min(holder, source), max(holder, source))
            weights.setdefault(key, [0, 0])[1] += int(n)
        return [ConstellationEdge(a, b, r, d) for (a, b), (r, d) in sorted(weights.items())]

    # -- one community ----------------------------------------------------------------------

    async def recent(
        self, community_id: int, limit: int = 20, offset: int = 0, tag: str | None = None
    ) -> list[InsightCard]:
        statement = (
            select(Insight.id)
            .where(Insight.community_id == community_id, _public())
            .order_by(Insight.created_at.desc(), Insight.id.desc())
            .limit(limit)
            .offset(offset)
        )
        if tag is not None:
            statement = statement.where(_tagged(tag))
        async with self._db.sessions() as session:
            ids = list(await session.scalars(statement))
        return await self.cards(ids)

    async def count(self, community_id: int, tag: str | None = None) -> int:
        statement = select(func.count(Insight.id)).where(
            Insight.community_id == community_id, _public()
        )
        if tag is not None:
            statement = statement.where(_tagged(tag))
        async with self._db.sessions() as session:
            return int(await session.scalar(statement) or 0)

    async def tag_counts(self, community_id: int, limit: int = 60) -> list[tuple[str, int]]:
        # counted from the community's public insights (index on community + visibility,
        # then each one's tag ids from insight_tags' primary key), named afterwards
        uses = (
            select(InsightTag.tag_id, func.count().label("n"))
            .select_from(Insight)
            .join(InsightTag, InsightTag.insight_id == Insight.id)
            .where(Insight.community_id == community_id, _public())
            .group_by(InsightTag.tag_id)
            .subquery()
        )
        async with self._db.sessions() as session:
            rows = await session.execute(
                select(Tag.name, uses.c.n)
                .join(uses, uses.c.tag_id == Tag.id)
                .order_by(uses.c.n.desc(), Tag.name)
                .limit(limit)
            )
            return [(name, int(n)) for name, n in rows.all()]

    async def tags_present(self, community_id: int, names: Sequence[str]) -> set[str]:
        """Which of `names` still tag a public insight of the community (each an EXISTS,
        which stops at the first one): what a cached tag list is checked against."""
        if not names:
            return set()
        statement = select(Tag.name).where(
            Tag.community_id == community_id,
            Tag.name.in_(list(names)),
            select(InsightTag.insight_id)
            .join(Insight, Insight.id == InsightTag.insight_id)
            .where(InsightTag.tag_id == Tag.id, _public())
            .exists(),
        )
        async with self._db.sessions() as session:
            return set(await session.scalars(statement))

    async def word_frequencies(
        self, community_id: int, words: Sequence[str], cap: int
    ) -> dict[str, int]:
        """In how many of the community's public insights each word occurs (as the
        full-text index matches it), counted up to `cap`: which of an insight's words
        are telling. A statistic for choosing words, never shown."""
        if not words:
            return {}
        parts: list[str] = []
        params: dict[str, object] = {"community": community_id, "public": PUBLIC, "cap": cap}
        for index, word in enumerate(words):
            if self._db.dialect == "sqlite":
                # CROSS JOIN: SQLite keeps this order, starting from the index's matches
                # (the other way round runs MATCH once per insight)
                parts.append(
                    f"(SELECT count(*) FROM (SELECT insights.id FROM {SQLITE_FTS_TABLE} "
                    f"CROSS JOIN insights ON insights.id = {SQLITE_FTS_TABLE}.rowid "
                    f"WHERE {SQLITE_FTS_TABLE} MATCH :w{index} "
                    "AND insights.community_id = :community "
                    "AND insights.visibility = :public LIMIT :cap))"
                )
                params[f"w{index}"] = '"' + word.replace('"', '""') + '"'
            else:
                parts.append(
                    f"(SELECT count(*) FROM (SELECT 1 FROM insights WHERE {POSTGRES_TSVECTOR} "
                    f"@@ plainto_tsquery('english', :w{index}) "
                    "AND insights.community_id = :community "
                    "AND insights.visibility = :public LIMIT :cap) AS capped)"
                )
                params[f"w{index}"] = word
        async with self._db.sessions() as session:  # one round trip for all the words
            row = (await session.execute(text("SELECT " + ", ".join(parts)), params)).one()
        return {word: int(n or 0) for word, n in zip(words, row, strict=True)}

    async def weekly(self, community_id: int, now: datetime, weeks: int = 12) -> list[int]:
        """Public insights captured in each of the last `weeks` weeks, oldest first (the
        last entry is the 7 days up to `now`)."""
        start = now - timedelta(weeks=weeks)
        if self._db.dialect == "sqlite":
            moment = literal(f"{now.astimezone(UTC):%Y-%m-%d %H:%M:%S}")
            age = (func.julianday(moment) - func.julianday(Insight.created_at)) / 7
            week: Any = cast(age, Integer)
        else:
            seconds = func.extract("epoch", literal(now) - Insight.created_at)
            week = func.floor(seconds / (7 * 86400))
        async with self._db.sessions() as session:
            rows = await session.execute(
                select(week.label("w"), func.count(Insight.id))
                .where(
                    Insight.community_id == community_id,
                    _public(),
                    Insight.created_at > start,
                    Insight.created_at <= now,
                )
                .group_by("w")
            )
            counts = [0] * weeks
            for ago, n in rows.all():
                index = weeks - 1 - int(ago)
                if 0 <= index < weeks:
                    counts[index] += int(n)
        return counts

    async def rituals(self, community_id: int, now: datetime) -> list[RitualSummary]:
        """Active (unpaused) rituals, with how many people answered lately."""
        since = now - timedelta(weeks=8)
        people = (
            select(
                RitualRound.ritual_id,
                func.count(func.distinct(RitualResponse.member_id)).label("people"),
            )
            .join(RitualResponse, RitualResponse.round_id == RitualRound.id)
            .where(RitualRound.scheduled_for >= since, RitualResponse.deleted_at.is_(None))
            .group_by(RitualRound.ritual_id)
            .subquery()
        )
        rounds = (
            select(RitualRound.ritual_id, func.count(RitualRound.id).label("rounds"))
            .where(RitualRound.scheduled_for >= since, RitualRound.closed_at.is_not(None))
            .group_by(RitualRound.ritual_id)
            .subquery()
        )
        async with self._db.sessions() as session:
            rows = await session.execute(
                select(
                    Ritual.name,
                    Ritual.kind,
                    Ritual.schedule_text,
                    func.coalesce(people.c.people, 0),
                    func.coalesce(rounds.c.rounds, 0),
                )
                .outerjoin(people, people.c.ritual_id == Ritual.id)
                .outerjoin(rounds, rounds.c.ritual_id == Ritual.id)
                .where(Ritual.community_id == community_id, Ritual.paused.is_(False))
                .order_by(Ritual.name)
            )
            return [
                RitualSummary(name, str(kind), schedule, int(p), int(r))
                for name, kind, schedule, p, r in rows.all()
            ]

    # -- insights ---------------------------------------------------------------------------

    async def cards(self, ids: Sequence[int]) -> list[InsightCard]:
        """The public ones among `ids`, in the order given."""
        if not ids:
            return []
        author = aliased(Member)
        async with self._db.sessions() as session:
            rows = (
                await session.execute(
                    select(
                        Insight.id,
                        Insight.community_id,
                        Insight.title,
                        Insight.body,
                        Insight.origin_credit,
                        author.display_name,
                        author.forgotten_at,
                        Insight.created_at,
                        Insight.updated_at,
                    )
                    .outerjoin(author, author.id == Insight.author_member_id)
                    .where(Insight.id.in_(list(ids)), _public())
                )
            ).all()
            tags = await _tags_of(session, [row[0] for row in rows])
        found = {
            iid: InsightCard(
                iid,
                cid,
                title,
                body,
                tuple(tags.get(iid, ())),
                credit or (FORGOTTEN_NAME if forgotten or name is None else name),
                created,
                updated,
            )
            for iid, cid, title, body, credit, name, forgotten, created, updated in rows
        }
        return [found[i] for i in ids if i in found]

    async def insight(self, community_id: int, insight_id: int) -> PublicInsight | None:
        """One public insight of this community, with where copies of it live."""
        found = await self.cards([insight_id])
        if not found or found[0].community_id != community_id:
            return None
        card = found[0]
        copy_holder = aliased(Community)
        origin = aliased(Insight)
        origin_home = aliased(Community)
        async with self._db.sessions() as session:
            source = (
                await session.execute(
                    select(Source.platform, Source.deleted_at)
                    .join(Insight, Insight.source_id == Source.id)
                    .where(Insight.id == insight_id)
                )
            ).one_or_none()
            if source is None:
                return None
            revisions = await session.scalar(
                select(func.count(InsightRevision.id)).where(
                    InsightRevision.insight_id == insight_id
                )
            )
            other = aliased(Insight)
            publishes = (
                select(other.id)
                .where(other.community_id == copy_holder.id, other.visibility == PUBLIC)
                .exists()
            )
            holders = (
                await session.execute(
                    select(copy_holder.slug, copy_holder.name, publishes)
                    .join(Insight, Insight.community_id == copy_holder.id)
                    .where(Insight.origin_insight_id == insight_id)
                    .order_by(copy_holder.name)
                )
            ).all()
            origin_row = (
                await session.execute(
                    select(origin_home.slug, origin_home.name, origin.id)
                    .join(origin, origin.community_id == origin_home.id)
                    .join(Insight, Insight.origin_insight_id == origin.id)
                    .where(Insight.id == insight_id, origin.visibility == PUBLIC)
                )
            ).one_or_none()
        platform, deleted_at = source
        return PublicInsight(
            card=card,
            source_platform=platform,
            source_deleted=deleted_at is not None,
            revisions=int(revisions or 0),
            adopted_by=tuple(CommunityRef(slug, name) for slug, name, shown in holders if shown),
            adopted_elsewhere=sum(1 for *_, shown in holders if not shown),
            adopted_from=(
                None
                if origin_row is None
                else (CommunityRef(origin_row[0], origin_row[1]), int(origin_row[2]))
            ),
        )

    async def public_ids(self, ids: Sequence[int]) -> set[int]:
        if not ids:
            return set()
        async with self._db.sessions() as session:
            return set(
                await session.scalars(
                    select(Insight.id).where(Insight.id.in_(list(ids)), _public())
                )
            )

    async def sitemap(self, limit: int = SITEMAP_LIMIT) -> list[SitemapEntry]:
        async with self._db.sessions() as session:
            rows = await session.execute(
                select(Community.slug, Insight.id, Insight.updated_at)
                .join(Community, Community.id == Insight.community_id)
                .where(_public())
                .order_by(Insight.updated_at.desc(), Insight.id.desc())
                .limit(limit)
            )
            return [SitemapEntry(s, i, u) for s, i, u in rows.all()]

    # -- search -----------------------------------------------------------------------------

    async def search(self, query: SearchQuery, community_ids: Sequence[int]) -> SearchPage:
        """The chat /search over public insights of `community_ids`: the same terms,
        filters, ranking, snippets and any-word fallback (the store's own search, asked
        for `public` only); names as the garden credits them, no chat permalinks."""
        if not community_ids:
            return SearchPage((), 0, query.offset)
        scoped = replace(
            query,
            community_id=community_ids[0],
            communities=tuple(community_ids),
            shared_from=(),
            public_only=True,
        )
        page = await self._search.search(scoped)
        cards = {card.id: card for card in await self.cards([h.insight_id for h in page.hits])}
        hits = tuple(
            replace(
                hit,
                title=cards[hit.insight_id].title,
                tags=cards[hit.insight_id].tags,
                author_name=cards[hit.insight_id].author_name,
                permalink=None,
            )
            for hit in page.hits
            if hit.insight_id in cards
        )
        return replace(page, hits=hits)

    async def related(self, query: SearchQuery) -> list[int]:
        """Ids of the best public matches of the community: related insights."""
        if query.terms.empty:
            return []
        scoped = replace(query, communities=(query.community_id,), public_only=True)
        page = await self._search.search(scoped)
        return [hit.insight_id for hit in page.hits]


def _tagged(tag: str) -> Any:
    return (
        select(InsightTag.insight_id)
        .join(Tag, Tag.id == InsightTag.tag_id)
        .where(
            InsightTag.insight_id == Insight.id,
            Tag.name == tag,
            Tag.community_id == Insight.community_id,
        )
        .exists()
    )


async def _tags_of(session: Any, ids: Sequence[int]) -> dict[int, list[str]]:
    tags: dict[int, list[str]] = {}
    if not ids:
        return tags
    rows = await session.execute(
        select(InsightTag.insight_id, Tag.name)
        .join(Tag, Tag.id == InsightTag.tag_id)
        .where(InsightTag.insight_id.in_(list(ids)))
        .order_by(Tag.name)
    )
    for insight_id, name in rows.all():
        tags.setdefault(insight_id, []).append(name)
    return tags


__all__ = [
    "SITEMAP_LIMIT",
    "CommunityRef",
    "ConstellationEdge",
    "GardenStore",
    "InsightCard",
    "PublicCommunity",
    "PublicInsight",
    "RitualSummary",
    "SitemapEntry",
]
