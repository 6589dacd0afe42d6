"""Reading insights: by source, counts, tag counts, what is new since a moment, and a
whole community in batches (exports, digests, reindexing)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from knowledge.db import Database
from knowledge.insight_rows import LOAD, insight_view
from knowledge.models import Insight, InsightRevision, InsightTag, Source, Tag
from knowledge.views import InsightView, TagCount


class InsightReads:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def find_by_source(
        self, community_id: int, platform: str, space: str, channel: str, message_id: str
    ) -> InsightView | None:
        async with self._db.sessions() as session:
            insight_id = await session.scalar(
                select(Insight.id)
                .join(Source, Source.id == Insight.source_id)
                .where(
                    Insight.community_id == community_id,
                    Source.platform == platform,
                    Source.space == space,
                    Source.channel == channel,
                    Source.message_id == message_id,
                )
            )
            return None if insight_id is None else await self.view_of(session, insight_id)

    async def tag_counts(self, community_id: int) -> list[TagCount]:
        async with self._db.sessions() as session:
            uses = func.count(InsightTag.insight_id)
            rows = await session.execute(
                select(Tag.name, uses)
                .join(InsightTag, InsightTag.tag_id == Tag.id)
                .where(Tag.community_id == community_id)
                .group_by(Tag.name)
                .order_by(uses.desc(), Tag.name)
            )
            return [TagCount(name, count) for name, count in rows.all()]

    async def count(self, community_id: int) -> int:
        async with self._db.sessions() as session:
            total = await session.scalar(
                select(func.count(Insight.id)).where(Insight.community_id == community_id)
            )
            return int(total or 0)

    async def since(
        self, community_id: int, moment: datetime, limit: int = 200
    ) -> list[InsightView]:
        """Insights captured at or after `moment`, oldest first (for digests)."""
        async with self._db.sessions() as session:
            rows = await session.scalars(
                select(Insight)
                .options(*LOAD)
                .where(Insight.community_id == community_id, Insight.created_at >= moment)
                .order_by(Insight.created_at, Insight.id)
                .limit(limit)
            )
            return [insight_view(r) for r in rows]

    async def iterate(self, community_id: int, batch: int = 500) -> AsyncIterator[InsightView]:
        """Every insight of a community in id order, a batch per short read transaction."""
        last = 0
        while True:
            async with self._db.sessions() as session:
                rows = (
                    await session.scalars(
                        select(Insight)
                        .options(*LOAD)
                        .where(Insight.community_id == community_id, Insight.id > last)
                        .order_by(Insight.id)
                        .limit(batch)
                    )
                ).all()
            if not rows:
                return
            for row in rows:
                yield insight_view(row)
            last = rows[-1].id

    async def view_of(self, session: AsyncSession, insight_id: int) -> InsightView:
        row = await session.scalar(
            select(Insight)
            .options(*LOAD)
            .where(Insight.id == insight_id)
            .execution_options(populate_existing=True)
        )
        assert row is not None
        revisions = await session.scalar(
            select(func.count(InsightRevision.id)).where(InsightRevision.insight_id == insight_id)
        )
        return insight_view(row, int(revisions or 0))
