"""Joint rounds in the store: the shared slot, each community's claim on posting the
constellation synthesis, and what each community taking part brought to a round.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from knowledge.joint_rows import Contribution, Voice
from knowledge.models import (
    Community,
    JointRound,
    Member,
    MemberPreference,
    Ritual,
    RitualResponse,
    RitualRound,
)
from knowledge.ritual_joint import taking_part
from knowledge.ritual_rows import LEASE, RitualTables, RoundView, round_view
from knowledge.upsert import insert_ignoring_conflict
from knowledge.views import FORGOTTEN_NAME
from knowledge.vocabulary import RoundStatus


class RitualJointRounds(RitualTables):
    async def end_round(self, round_id: int, status: RoundStatus) -> None:
        """A joint round that will not be posted (its community no longer takes part)."""
        async with self._db.sessions.begin() as session:
            await session.execute(
                update(RitualRound)
                .where(RitualRound.id == round_id, RitualRound.status == RoundStatus.PENDING)
                .values(status=status, next_attempt_at=None, joint_due_at=None)
            )

    async def joint_round(self, joint_id: int, scheduled_for: datetime, closes_at: datetime) -> int:
        """The joint round of this slot (created by whichever community opens first)."""
        async with self._db.sessions.begin() as session:
            await session.execute(
                insert_ignoring_conflict(
                    session,
                    JointRound,
                    {"joint_id": joint_id, "scheduled_for": scheduled_for, "closes_at": closes_at},
                    ["joint_id", "scheduled_for"],
                )
            )
            found = await session.scalar(
                select(JointRound.id).where(
                    JointRound.joint_id == joint_id, JointRound.scheduled_for == scheduled_for
                )
            )
            assert found is not None
            return int(found)

    async def joint_due(self, now: datetime) -> list[RoundView]:
        """Closed rounds of joint rituals whose constellation synthesis is due here."""
        async with self._db.sessions() as session:
            rows = await session.scalars(
                select(RitualRound).where(
                    RitualRound.status == RoundStatus.CLOSED,
                    RitualRound.joint_round_id.is_not(None),
                    RitualRound.joint_message_id.is_(None),
                    RitualRound.joint_due_at <= now,
                )
            )
            return [round_view(r) for r in rows]

    async def claim_joint_synthesis(self, round_id: int, now: datetime) -> bool:
        """Take the right to post this community's constellation synthesis (one lease)."""
        async with self._db.sessions.begin() as session:
            result = await session.execute(
                update(RitualRound)
                .where(
                    RitualRound.id == round_id,
                    RitualRound.status == RoundStatus.CLOSED,
                    RitualRound.joint_message_id.is_(None),
                    RitualRound.joint_due_at <= now,
                )
                .values(joint_due_at=now + LEASE)
                .execution_options(synchronize_session=False)
            )
            return bool(getattr(result, "rowcount", 0) == 1)

    async def mark_joint_synthesis(
        self, round_id: int, message_id: str | None, retry_at: datetime | None = None
    ) -> None:
        """Posted (`message_id`), given up (neither), or to be tried again at `retry_at`."""
        values: dict[str, Any] = {"joint_due_at": retry_at}
        if message_id is not None:
            values["joint_message_id"] = message_id
        async with self._db.sessions.begin() as session:
            await session.execute(
                update(RitualRound).where(RitualRound.id == round_id).values(**values)
            )

    async def contributions(self, joint_round_id: int) -> list[Contribution]:
        """What each community taking part now brought to this joint round (its live
        responses); communities that left or declined are not read at all."""
        async with self._db.sessions() as session:
            joint_id = await session.scalar(
                select(JointRound.joint_id).where(JointRound.id == joint_round_id)
            )
            if joint_id is None:
                return []
            live = await taking_part(session, joint_id)
            rounds = (
                await session.execute(
                    select(RitualRound.id, Ritual, Community.name)
                    .join(Ritual, Ritual.id == RitualRound.ritual_id)
                    .join(Community, Community.id == Ritual.community_id)
                    .where(
                        RitualRound.joint_round_id == joint_round_id,
                        Ritual.community_id.in_(live),
                    )
                    .order_by(Community.name)
                )
            ).all()
            if not rounds:
                return []
            voices: dict[int, list[Voice]] = {}
            responses = await session.execute(
                select(
                    RitualResponse,
                    Member.display_name,
                    Member.forgotten_at,
                    func.coalesce(MemberPreference.quote_beyond, False),
                )
                .outerjoin(Member, Member.id == RitualResponse.member_id)
                .outerjoin(MemberPreference, MemberPreference.member_id == RitualResponse.member_id)
                .where(
                    RitualResponse.round_id.in_([r[0] for r in rounds]),
                    RitualResponse.deleted_at.is_(None),
                )
                .order_by(RitualResponse.id)
            )
            anonymous = {round_id: ritual.anonymous for round_id, ritual, _ in rounds}
            for r, name, forgotten, quote_beyond in responses:
                hidden = r.anonymous or anonymous[r.round_id]
                voices.setdefault(r.round_id, []).append(
                    Voice(
                        r.member_id,
                        FORGOTTEN_NAME if name is None or forgotten else name,
                        r.text,
                        r.message_id,
                        hidden,
                        bool(quote_beyond) and not hidden and not forgotten,
                    )
                )
            return [
                Contribution(
                    ritual.community_id,
                    community,
                    round_id,
                    ritual.platform,
                    ritual.space,
                    ritual.channel,
                    tuple(voices.get(round_id, ())),
                )
                for round_id, ritual, community in rounds
            ]
