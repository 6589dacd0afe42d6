"""A community's ritual history for its members on the garden: rounds, completion per
month, and each closed round's responses for its synthesis.

Anonymity is settled here, not in a template: a response given anonymously, or to an
anonymous ritual, comes back as "anonymous" with no member id, so nothing downstream can
show who wrote it. Names of members who used /forget-me are withheld as in chat.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from knowledge.db import Database
from knowledge.models import Member, Ritual, RitualResponse, RitualRound
from knowledge.ritual_rows import (
    ANONYMOUS,
    Completion,
    ResponseView,
    RitualView,
    respondent_numbers,
    ritual_view,
)
from knowledge.views import FORGOTTEN_NAME
from knowledge.vocabulary import RoundStatus

MONTHS = 6
SHOWN_ROUNDS = 6  # per ritual, newest first, with their responses
HELD = (RoundStatus.OPEN, RoundStatus.CLOSED)  # posted: what completion counts
SHOWN = (*HELD, RoundStatus.MISSED)


@dataclass(frozen=True)
class MonthRate:
    month: str  # "2026-03"
    held: int  # rounds that were posted (open or closed)
    answered: int  # of those, rounds with at least one response

    @property
    def rate(self) -> float:
        return self.answered / self.held if self.held else 0.0


@dataclass(frozen=True)
class RoundRecord:
    scheduled_for: datetime
    status: RoundStatus
    late: bool
    people: int
    responses: tuple[ResponseView, ...]  # names already withheld where they must be
    joint_round_id: int | None = None  # a joint ritual's round: its insights side by side


@dataclass(frozen=True)
class RitualRecord:
    ritual: RitualView
    completion: Completion
    months: tuple[MonthRate, ...]  # oldest first, the last MONTHS calendar months (UTC)
    rounds: tuple[RoundRecord, ...]  # newest first, at most SHOWN_ROUNDS


def month_keys(now: datetime, count: int = MONTHS) -> list[str]:
    """The last `count` calendar months up to `now`'s, oldest first ("2026-03")."""
    now = now.astimezone(UTC)
    index = now.year * 12 + now.month - 1
    return [f"{i // 12:04d}-{i % 12 + 1:02d}" for i in range(index - count + 1, index + 1)]


class RitualHistory:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def history(self, community_id: int, now: datetime) -> list[RitualRecord]:
        """Every ritual of the community (paused ones too), by name."""
        async with self._db.sessions() as session:
            rituals = [
                ritual_view(row)
                for row in await session.scalars(
                    select(Ritual).where(Ritual.community_id == community_id).order_by(Ritual.name)
                )
            ]
            if not rituals:
                return []
            ids = [r.id for r in rituals]
            rounds = (
                await session.execute(
                    select(
                        RitualRound.id,
                        RitualRound.ritual_id,
                        RitualRound.scheduled_for,
                        RitualRound.status,
                        RitualRound.late,
                        RitualRound.joint_round_id,
                    )
                    .where(RitualRound.ritual_id.in_(ids))
                    .order_by(RitualRound.scheduled_for.desc(), RitualRound.id.desc())
                )
            ).all()
            live = (RitualRound.ritual_id.in_(ids), RitualResponse.deleted_at.is_(None))
            counted = {
                round_id: (int(n), int(people))
                for round_id, n, people in await session.execute(
                    select(
                        RitualResponse.round_id,
                        func.count(RitualResponse.id),
                        func.count(func.distinct(RitualResponse.member_id)),
                    )
                    .join(RitualRound, RitualRound.id == RitualResponse.round_id)
                    .where(*live)
                    .group_by(RitualResponse.round_id)
                )
            }
            participants = dict(
                (
                    await session.execute(
                        select(
                            RitualRound.ritual_id,
                            func.count(func.distinct(RitualResponse.member_id)),
                        )
                        .join(RitualRound, RitualRound.id == RitualResponse.round_id)
                        .where(*live)
                        .group_by(RitualRound.ritual_id)
                    )
                ).all()
            )
            by_ritual: dict[int, list[_Round]] = defaultdict(list)
            for round_id, ritual_id, scheduled, status, late, joint in rounds:
                by_ritual[ritual_id].append(
                    _Round(round_id, scheduled, RoundStatus(status), late, joint)
                )
            shown = {
                ritual_id: [r for r in by_ritual[ritual_id] if r.status in SHOWN][:SHOWN_ROUNDS]
                for ritual_id in ids
            }
            responses = await _responses(
                session,
                [r.id for group in shown.values() for r in group],
                {r.id: r.anonymous for r in rituals},
            )
        keys = month_keys(now)
        records = []
        for ritual in rituals:
            held = [r for r in by_ritual[ritual.id] if r.status in HELD]
            answered = [r for r in held if r.id in counted]
            completion = Completion(
                rounds=len(held),
                answered_rounds=len(answered),
                responses=sum(counted.get(r.id, (0, 0))[0] for r in by_ritual[ritual.id]),
                participants=int(participants.get(ritual.id, 0)),
                missed=sum(1 for r in by_ritual[ritual.id] if r.status is RoundStatus.MISSED),
            )
            months = tuple(
                MonthRate(
                    key,
                    sum(1 for r in held if r.month == key),
                    sum(1 for r in answered if r.month == key),
                )
                for key in keys
            )
            records.append(
                RitualRecord(
                    ritual,
                    completion,
                    months,
                    tuple(
                        RoundRecord(
                            r.scheduled_for,
                            r.status,
                            r.late,
                            counted.get(r.id, (0, 0))[1],
                            tuple(responses.get(r.id, ())),
                            r.joint_round_id,
                        )
                        for r in shown[ritual.id]
                    ),
                )
            )
        return records


@dataclass(frozen=True)
class _Round:
    id: int
    scheduled_for: datetime
    status: RoundStatus
    late: bool
    joint_round_id: int | None

    @property
    def month(self) -> str:
        moment = self.scheduled_for
        return f"{moment.astimezone(UTC) if moment.tzinfo else moment:%Y-%m}"


async def _responses(
    session: AsyncSession, round_ids: Sequence[int], anonymous_ritual: dict[int, bool]
) -> dict[int, list[ResponseView]]:
    """The live responses of these rounds, oldest first, names withheld where due."""
    found: dict[int, list[ResponseView]] = defaultdict(list)
    if not round_ids:
        return found
    rows = (
        await session.execute(
            select(
                RitualResponse,
                RitualRound.ritual_id,
                Member.display_name,
                Member.forgotten_at,
            )
            .join(RitualRound, RitualRound.id == RitualResponse.round_id)
            .outerjoin(Member, Member.id == RitualResponse.member_id)
            .where(
                RitualResponse.round_id.in_(list(round_ids)),
                RitualResponse.deleted_at.is_(None),
            )
            .order_by(RitualResponse.id)
        )
    ).all()
    numbers = respondent_numbers((r.id, r.round_id, r.member_id) for r, _, _, _ in rows)
    for response, ritual_id, name, forgotten in rows:
        hidden = response.anonymous or anonymous_ritual.get(ritual_id, False)
        shown = FORGOTTEN_NAME if name is None or forgotten else name
        found[response.round_id].append(
            ResponseView(
                response.id,
                None if hidden else response.member_id,
                ANONYMOUS if hidden else shown,
                response.text,
                hidden,
                response.late,
                response.created_at,
                numbers[response.id],
            )
        )
    return found
