"""The constellation's pulse: per community, what it captured, shared and had adopted by
others, and how its rituals went, over a recent period (`/constellation pulse`).

Counts only, a few grouped queries for all the communities at once: nobody's words.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from knowledge.joint_rows import PulseRow
from knowledge.models import Community, Insight, Ritual, RitualResponse, RitualRound
from knowledge.ritual_rows import RitualTables
from knowledge.vocabulary import SHARED_VISIBILITIES, RoundStatus


class ConstellationPulse(RitualTables):
    """Part of the ritual store (it counts rounds and responses beside insights)."""

    async def pulse(self, community_ids: Sequence[int], since: datetime) -> list[PulseRow]:
        """One row per community, in the order given."""
        ids = list(community_ids)
        if not ids:
            return []
        async with self._db.sessions() as session:

            async def counted(query: Any) -> dict[int, int]:
                rows = await session.execute(query)
                return {int(c): int(n) for c, n in rows}

            recent = Insight.created_at >= since
            captured = await counted(
                select(Insight.community_id, func.count())
                .where(Insight.community_id.in_(ids), recent, Insight.origin_insight_id.is_(None))
                .group_by(Insight.community_id)
            )
            shared = await counted(
                select(Insight.community_id, func.count())
                .where(
                    Insight.community_id.in_(ids),
                    Insight.origin_insight_id.is_(None),
                    Insight.visibility.in_(SHARED_VISIBILITIES),
                    Insight.shared_at >= since,
                )
                .group_by(Insight.community_id)
            )
            adopted = await counted(
                select(Insight.origin_community_id, func.count())
                .where(Insight.origin_community_id.in_(ids), recent)
                .group_by(Insight.origin_community_id)
            )
            held = (RoundStatus.OPEN, RoundStatus.CLOSED)
            in_period = (
                select(RitualRound.id, Ritual.community_id)
                .join(Ritual, Ritual.id == RitualRound.ritual_id)
                .where(
                    Ritual.community_id.in_(ids),
                    RitualRound.scheduled_for >= since,
                    RitualRound.status.in_(held),
                )
                .subquery()
            )
            rounds = await counted(
                select(in_period.c.community_id, func.count()).group_by(in_period.c.community_id)
            )
            live = RitualResponse.deleted_at.is_(None)
            answered = await counted(
                select(in_period.c.community_id, func.count(func.distinct(in_period.c.id)))
                .join(RitualResponse, RitualResponse.round_id == in_period.c.id)
                .where(live)
                .group_by(in_period.c.community_id)
            )
            people = await counted(
                select(
                    in_period.c.community_id, func.count(func.distinct(RitualResponse.member_id))
                )
                .join(RitualResponse, RitualResponse.round_id == in_period.c.id)
                .where(live)
                .group_by(in_period.c.community_id)
            )
            names = dict(
                (
                    await session.execute(
                        select(Community.id, Community.name).where(Community.id.in_(ids))
                    )
                ).all()
            )
        return [
            PulseRow(
                c,
                names.get(c, "?"),
                captured.get(c, 0),
                shared.get(c, 0),
                adopted.get(c, 0),
                rounds.get(c, 0),
                answered.get(c, 0),
                people.get(c, 0),
            )
            for c in ids
        ]
