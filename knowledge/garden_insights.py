"""One public insight's page: where its copies live, related insights, telling words."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from sqlalchemy import func, select, text
from sqlalchemy.orm import aliased

from knowledge.garden_rows import PUBLIC, CommunityRef, GardenTables, PublicInsight, is_public
from knowledge.models import (
    Community,
    Insight,
    InsightRevision,
    Source,
)
from knowledge.schema_extras import POSTGRES_TSVECTOR, SQLITE_FTS_TABLE
from knowledge.search import SearchQuery


class GardenInsights(GardenTables):
    """One insight's page and what it draws on."""

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

    async def related(self, query: SearchQuery) -> list[int]:
        """Ids of the best public matches of the community: related insights."""
        if query.terms.empty:
            return []
        scoped = replace(query, communities=(query.community_id,), public_only=True)
        page = await self._search.search(scoped)
        return [hit.insight_id for hit in page.hits]

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
        async with self._db.sessions() as session:  # one round trip for all the words
            row = (await session.execute(text("SELECT " + ", ".join(parts)), params)).one()
        return {word: int(n or 0) for word, n in zip(words, row, strict=True)}
