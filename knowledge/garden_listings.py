"""One community's garden pages and the sitemap: its recent insights (and feeds), counts,
tags, weekly activity and rituals.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, cast, func, literal, select

from knowledge.garden_rows import (
    SITEMAP_LIMIT,
    CommunityRef,
    GardenTables,
    InsightCard,
    RitualSummary,
    SitemapEntry,
    is_public,
    tagged,
)
from knowledge.models import (
    Community,
    Insight,
    InsightTag,
    Ritual,
    RitualResponse,
    RitualRound,
    Tag,
)


class GardenListings(GardenTables):
    """One community's listings and counts, and the sitemap."""

    # -- one community ----------------------------------------------------------------------

    async def recent(
        self, community_id: int, limit: int = 20, offset: int = 0, tag: str | None = None
    ) -> list[InsightCard]:
        statement = (
            select(Insight.id)
            .where(Insight.community_id == community_id, is_public())
            .order_by(Insight.created_at.desc(), Insight.id.desc())
            .limit(limit)
            .offset(offset)
        )
        if tag is not None:
            statement = statement.where(tagged(tag))
        async with self._db.sessions() as session:
            ids = list(await session.scalars(statement))
        return await self.cards(ids)

    async def joint_round(self, joint_round_id: int) -> list[tuple[CommunityRef, InsightCard]]:
        """The public insights kept from a joint ritual's round, by community name."""
        async with self._db.sessions() as session:
            rows = (
                await session.execute(
                    select(Insight.id, Community.slug, Community.name)
                    .join(Community, Community.id == Insight.community_id)
                    .where(Insight.joint_round_id == joint_round_id, is_public())
                    .order_by(Community.name, Insight.id)
                )
            ).all()
        cards = {card.id: card for card in await self.cards([row[0] for row in rows])}
        return [
            (CommunityRef(slug, name), cards[insight_id])
            for insight_id, slug, name in rows
            if insight_id in cards
        ]

    async def joint_rounds(self, community_id: int, limit: int = 10) -> list[int]:
        """The newest joint rounds this community kept a public insight from."""
        async with self._db.sessions() as session:
            found = await session.scalars(
                select(Insight.joint_round_id)
                .where(
                    Insight.community_id == community_id,
                    Insight.joint_round_id.is_not(None),
                    is_public(),
                )
                .group_by(Insight.joint_round_id)
                .order_by(Insight.joint_round_id.desc())
                .limit(limit)
            )
            return [int(r) for r in found if r is not None]

    async def count(self, community_id: int, tag: str | None = None) -> int:
        statement = select(func.count(Insight.id)).where(
            Insight.community_id == community_id, is_public()
        )
        if tag is not None:
            statement = statement.where(tagged(tag))
        async with self._db.sessions() as session:
            return int(await session.scalar(statement) or 0)

    async def tag_counts(self, community_id: int, limit: int = 60) -> list[tuple[str, int]]:
        # counted from the community's public insights (index on community + visibility,
        # then each one's tag ids from insight_tags' primary key), named afterwards
        uses = (
            select(InsightTag.tag_id, func.count().label("n"))
            .select_from(Insight)
            .join(InsightTag, InsightTag.insight_id == Insight.id)
            .where(Insight.community_id == community_id, is_public())
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
            .where(InsightTag.tag_id == Tag.id, is_public())
            .exists(),
        )
        async with self._db.sessions() as session:
            return set(await session.scalars(statement))

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
                    is_public(),
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

    async def sitemap(self, limit: int = SITEMAP_LIMIT) -> list[SitemapEntry]:
        async with self._db.sessions() as session:
            rows = await session.execute(
                select(Community.slug, Insight.id, Insight.updated_at)
                .join(Community, Community.id == Insight.community_id)
                .where(is_public())
                .order_by(Insight.updated_at.desc(), Insight.id.desc())
                .limit(limit)
            )
            return [SitemapEntry(s, i, u) for s, i, u in rows.all()]
