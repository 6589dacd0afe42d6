"""One public insight's page: where its copies live, related insights, telling words."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select, text
from sqlalchemy.orm import aliased

from knowledge.db import Database
from knowledge.garden_rows import (
    PUBLIC,
    CommunityRef,
    GardenTables,
    InsightCard,
    PublicCommunity,
    PublicInsight,
    is_public,
)
from knowledge.models import (
    Community,
    Insight,
    InsightRevision,
    Source,
)
from knowledge.schema_extras import POSTGRES_TSVECTOR, SQLITE_FTS_TABLE
from knowledge.search import SearchBackend, SearchQuery, Terms
from knowledge.search.query import STOP_WORDS

_WORD = re.compile(r"\w{4,}")
RELATED_WORDS = 3  # the rarest of an insight's words that others share
RELATED_CANDIDATES = 8
COMMON_WORD = 500  # in this many insights or more, a word says little about relatedness
RELATED_SHOWN = 4
WORD_COUNTS_TTL = 60.0


@dataclass(frozen=True)
class InsightPageData:
    """Everything a visitor's insight page shows."""

    community: PublicCommunity
    insight: PublicInsight
    related: tuple[InsightCard, ...]


def related_candidates(card: InsightCard) -> list[str]:
    """The insight's longest words (not stop words): candidates for related insights."""
    seen: dict[str, None] = {}
    for written in (card.title or "", card.body):
        for word in _WORD.findall(written):
            if word.casefold() not in STOP_WORDS:
                seen.setdefault(word.casefold(), None)
    return sorted(seen, key=len, reverse=True)[:RELATED_CANDIDATES]


def related_query(card: InsightCard, frequency: dict[str, int]) -> SearchQuery | None:
    """Public insights of the same community, by the store's full-text ranking over any
    of this insight's most telling words: of its candidates, the rarest that other
    insights share (a word in COMMON_WORD insights or more says little, and would make
    the ranking read tens of thousands of rows). None: no such word."""
    shared = [w for w in frequency if 1 < frequency[w] < COMMON_WORD]  # not only here
    words = sorted(shared, key=lambda w: frequency[w])[:RELATED_WORDS]
    if not words:
        return None
    return SearchQuery(
        card.community_id,
        Terms(tuple(words)),
        limit=RELATED_SHOWN + 1,
        match_any=True,
        communities=(card.community_id,),
        public_only=True,
    )


class WordCounts:
    """Word frequencies (numbers that choose an insight's related words, never shown)
    kept for `ttl` seconds per community: counting a common word reads up to COMMON_WORD
    index entries, most of an insight page's SQL at 100k. Read and written from the
    SQLite connection's thread too: single dict operations, safe under the GIL (a race
    only counts a word twice)."""

    def __init__(self, ttl: float = WORD_COUNTS_TTL) -> None:
        self._ttl = ttl
        self._kept: dict[tuple[int, str], tuple[float, int]] = {}

    def known(self, community_id: int, words: Sequence[str]) -> dict[str, int]:
        now = time.monotonic()
        found = {}
        for word in words:
            kept = self._kept.get((community_id, word))
            if kept is not None and kept[0] > now:
                found[word] = kept[1]
        return found

    def keep(self, community_id: int, counts: dict[str, int]) -> None:
        if len(self._kept) > 100_000:
            self._kept.clear()
        expires = time.monotonic() + self._ttl
        for word, count in counts.items():
            self._kept[(community_id, word)] = (expires, count)


class GardenInsights(GardenTables):
    """One insight's page and what it draws on."""

    def __init__(self, database: Database, search: SearchBackend) -> None:
        super().__init__(database, search)
        self.word_counts = WordCounts()

    # -- insights ---------------------------------------------------------------------------
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
                    select(Insight.id).where(Insight.id.in_(list(ids)), is_public())
                )
            )

    async def related(self, card: InsightCard) -> list[InsightCard]:
        """Public insights of the same community related to this one (see related_query)."""
        candidates = related_candidates(card)
        frequency = await self.word_frequencies(card.community_id, candidates, COMMON_WORD)
        query = related_query(card, frequency)
        if query is None:
            return []
        page = await self._search.search(query)
        ids = [hit.insight_id for hit in page.hits if hit.insight_id != card.id]
        return await self.cards(ids[:RELATED_SHOWN])

    async def word_frequencies(
        self, community_id: int, words: Sequence[str], cap: int
    ) -> dict[str, int]:
        """In how many of the community's public insights each word occurs (as the
        full-text index matches it), counted up to `cap`: which of an insight's words
        are telling. A statistic for choosing words, never shown; kept a minute."""
        known = self.word_counts.known(community_id, words)
        missing = [word for word in words if word not in known]
        if not missing:
            return known
        sql, params = frequency_sql(self._db.dialect, community_id, missing, cap)
        async with self._db.sessions() as session:  # one round trip for all the words
            row = (await session.execute(text(sql), params)).one()
        counted = {word: int(n or 0) for word, n in zip(missing, row, strict=True)}
        self.word_counts.keep(community_id, counted)
        return {**known, **counted}


def frequency_sql(
    dialect: str, community_id: int, words: Sequence[str], cap: int
) -> tuple[str, dict[str, object]]:
    """One SELECT counting, per word, the community's public insights it occurs in (up to
    `cap`), starting from the full-text index's matches; named parameters (`:w0`), which
    SQLAlchemy's text() and sqlite3 both take."""
    parts: list[str] = []
    params: dict[str, object] = {"community": community_id, "public": PUBLIC, "cap": cap}
    for index, word in enumerate(words):
        if dialect == "sqlite":
            # CROSS JOIN: SQLite keeps this order, starting from the index's matches
            # (the other way round runs MATCH once per insight)
            parts.append(
                f"(SELECT count(*) FROM (SELECT insights.id FROM {SQLITE_FTS_TABLE} "
                f"CROSS JOIN insights ON insights.id = {SQLITE_FTS_TABLE}.rowid "
                f"WHERE {SQLITE_FTS_TABLE} MATCH :w{index} "
                "AND insights.community_id = :community "
                "AND insights.visibility = :public LIMIT :cap))"
            )
            # the words' columns only: tags are indexed too (migration 0018)
            params[f"w{index}"] = '{title body} : "' + word.replace('"', '""') + '"'
        else:
            # from the GIN index's matches first (a MATERIALIZED CTE): left to itself
            # the planner walked the community's rows computing each tsvector
            parts.append(
                f"(WITH m{index} AS MATERIALIZED (SELECT insights.community_id, "
                f"insights.visibility FROM insights WHERE {POSTGRES_TSVECTOR} "
                f"@@ plainto_tsquery('english', :w{index})) "
                f"SELECT count(*) FROM (SELECT 1 FROM m{index} "
                f"WHERE m{index}.community_id = :community "
                f"AND m{index}.visibility = :public LIMIT :cap) AS capped)"
            )
            params[f"w{index}"] = word
    return "SELECT " + ", ".join(parts), params
