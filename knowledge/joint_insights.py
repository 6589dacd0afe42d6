"""Insights of a joint round: captured from a response, they remember the round; read
back side by side by community, each community seeing only what it may see."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import or_, select, update

from knowledge.db import Database
from knowledge.insight_rows import LOAD, insight_view
from knowledge.models import Community, Insight, Ritual, RitualResponse, RitualRound
from knowledge.views import InsightView
from knowledge.vocabulary import SHARED_VISIBILITIES


class JointInsights:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def remember_round(
        self, insight_id: int, platform: str, space: str, channel: str, message_id: str
    ) -> int | None:
        """Mark an insight captured from a joint round's response with that joint round
        (idempotent: a redelivered capture marks it again). Returns the round, if any."""
        async with self._db.sessions() as session:  # a read: most captures are not
            joint_round = await session.scalar(
                select(RitualRound.joint_round_id)
                .join(RitualResponse, RitualResponse.round_id == RitualRound.id)
                .join(Ritual, Ritual.id == RitualRound.ritual_id)
                .where(
                    Ritual.platform == platform,
                    Ritual.space == space,
                    Ritual.channel == channel,
                    RitualResponse.message_id == message_id,
                    RitualRound.joint_round_id.is_not(None),
                )
            )
        if joint_round is None:
            return None
        async with self._db.sessions.begin() as session:
            await session.execute(
                update(Insight).where(Insight.id == insight_id).values(joint_round_id=joint_round)
            )
            return int(joint_round)

    async def of_round(
        self, joint_round_id: int, community_id: int, shared_from: Sequence[int]
    ) -> list[tuple[str, InsightView]]:
        """The round's insights this community may see (its own, and those siblings in
        `shared_from` shared), as (community name, insight), grouped by community."""
        async with self._db.sessions() as session:
            rows = await session.execute(
                select(Insight, Community.name)
                .options(*LOAD)
                .join(Community, Community.id == Insight.community_id)
                .where(
                    Insight.joint_round_id == joint_round_id,
                    or_(
                        Insight.community_id == community_id,
                        Insight.community_id.in_(list(shared_from))
                        & Insight.visibility.in_(SHARED_VISIBILITIES),
                    ),
                )
                .order_by(Community.name, Insight.id)
            )
            return [(name, insight_view(row)) for row, name in rows]
