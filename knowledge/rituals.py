"""Rituals, their rounds and responses: the source of truth the scheduler is rebuilt from.

Exactly-once is the store's job: a round is unique per (ritual, scheduled time), and every
step that posts (open, remind, close) is claimed by one conditional UPDATE, so several
Hearth processes on one database never post the same thing twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from knowledge.db import Database
from knowledge.errors import InvalidInput, NotFound
from knowledge.models import (
    CommunityPrompt,
    Identity,
    Member,
    MemberPreference,
    Ritual,
    RitualResponse,
    RitualRound,
)
from knowledge.upsert import insert_ignoring_conflict, insert_many_ignoring_conflict
from knowledge.views import FORGOTTEN_NAME
from knowledge.vocabulary import RitualKind, RoundStatus

LEASE = timedelta(minutes=2)
CHUNK = 500  # ids per IN list / rows per multi-row statement


@dataclass(frozen=True)
class NewRound:
    """A scheduled slot to open (see `RitualStore.open_rounds`)."""

    ritual_id: int
    community_id: int
    kind: RitualKind
    scheduled_for: datetime
    late: bool


@dataclass(frozen=True)
class OpenedRound:
    """A round this caller created and now owns, with what its prompt needs."""

    round: RoundView
    prompt_index: int  # its place in the ritual's prompt rotation
    own_prompts: tuple[str, ...]  # the community's own prompts for its kind


@dataclass(frozen=True)
class PostedPrompt:
    """What `mark_opened` records, for many rounds at once."""

    round_id: int
    prompt: str
    message_id: str
    opened_at: datetime
    remind_at: datetime | None
    closes_at: datetime
    closed: bool


@dataclass(frozen=True)
class RitualView:
    id: int
    community_id: int
    name: str
    kind: RitualKind
    platform: str
    space: str
    channel: str
    schedule_text: str
    cron: str
    timezone: str
    every_weeks: int
    anchor: str | None
    window_minutes: int
    reminder_percent: int | None
    prompt: str | None
    anonymous: bool
    paused: bool
    skip_next: bool
    created_at: datetime


@dataclass(frozen=True)
class RitualSchedule:
    """What a ritual's timer job depends on: enough for every instance to reconcile."""

    id: int
    cron: str
    timezone: str
    paused: bool


@dataclass(frozen=True)
class NewRitual:
    name: str
    kind: RitualKind
    platform: str
    space: str
    channel: str
    schedule_text: str
    cron: str
    timezone: str
    window_minutes: int
    every_weeks: int = 1
    anchor: str | None = None
    reminder_percent: int | None = 80
    prompt: str | None = None
    anonymous: bool = False
    created_by_member_id: int | None = None


@dataclass(frozen=True)
class RoundView:
    id: int
    ritual_id: int
    scheduled_for: datetime
    status: RoundStatus
    late: bool
    manual: bool
    prompt: str
    message_id: str | None
    remind_at: datetime | None
    reminded_at: datetime | None
    closes_at: datetime | None
    closed_at: datetime | None
    synthesis_message_id: str | None
    synthesis_stale: bool
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None


@dataclass(frozen=True)
class ResponseView:
    id: int
    member_id: int | None
    author_name: str
    text: str
    anonymous: bool
    late: bool
    created_at: datetime


@dataclass(frozen=True)
class Completion:
    rounds: int
    answered_rounds: int
    responses: int
    participants: int
    missed: int

    @property
    def rate(self) -> float:
        return self.answered_rounds / self.rounds if self.rounds else 0.0


def _synthesis_wanted(now: datetime) -> Any:
    return or_(
        RitualRound.synthesis_stale.is_(True),
        and_(
            RitualRound.synthesis_message_id.is_(None),
            RitualRound.next_attempt_at.is_not(None),
            RitualRound.next_attempt_at <= now,
        ),
    )


def ritual_view(row: Ritual) -> RitualView:
    return RitualView(
        row.id,
        row.community_id,
        row.name,
        row.kind,
        row.platform,
        row.space,
        row.channel,
        row.schedule_text,
        row.cron,
        row.timezone,
        row.every_weeks,
        row.anchor,
        row.window_minutes,
        row.reminder_percent,
        row.prompt,
        row.anonymous,
        row.paused,
        row.skip_next,
        row.created_at,
    )


def _round_from_row(row: Any) -> RoundView:
    """A RETURNING row of every ritual_rounds column as a view (no read-back)."""
    return RoundView(
        row.id,
        row.ritual_id,
        row.scheduled_for,
        RoundStatus(row.status),
        row.late,
        row.manual,
        row.prompt,
        row.message_id,
        row.remind_at,
        row.reminded_at,
        row.closes_at,
        row.closed_at,
        row.synthesis_message_id,
        row.synthesis_stale,
        row.attempts,
        row.next_attempt_at,
        row.last_error,
    )


def round_view(row: RitualRound) -> RoundView:
    return RoundView(
        row.id,
        row.ritual_id,
        row.scheduled_for,
        row.status,
        row.late,
        row.manual,
        row.prompt,
        row.message_id,
        row.remind_at,
        row.reminded_at,
        row.closes_at,
        row.closed_at,
        row.synthesis_message_id,
        row.synthesis_stale,
        row.attempts,
        row.next_attempt_at,
        row.last_error,
    )


class RitualStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    # rituals -------------------------------------------------------------------------

    async def create(self, community_id: int, new: NewRitual) -> RitualView:
        async with self._db.sessions() as session:
            row = Ritual(community_id=community_id, **new.__dict__)
            session.add(row)
            try:
                await session.commit()
            except IntegrityError:
                raise InvalidInput(
                    f"There is already a ritual named {new.name}: pick another with name:<name>."
                ) from None
            return ritual_view(row)

    async def get(self, community_id: int, name: str) -> RitualView:
        async with self._db.sessions() as session:
            row = await session.scalar(
                select(Ritual).where(Ritual.community_id == community_id, Ritual.name == name)
            )
            if row is None:
                raise NotFound(f"There is no ritual named {name!r} here. See /ritual list.")
            return ritual_view(row)

    async def by_id(self, ritual_id: int) -> RitualView | None:
        async with self._db.sessions() as session:
            row = await session.get(Ritual, ritual_id)
            return None if row is None else ritual_view(row)

    async def names(self, community_id: int) -> list[str]:
        async with self._db.sessions() as session:
            rows = await session.scalars(
                select(Ritual.name).where(Ritual.community_id == community_id)
            )
            return list(rows)

    async def rituals(self, community_id: int | None = None) -> list[RitualView]:
        async with self._db.sessions() as session:
            query = select(Ritual).order_by(Ritual.community_id, Ritual.name)
            if community_id is not None:
                query = query.where(Ritual.community_id == community_id)
            return [ritual_view(r) for r in await session.scalars(query)]

    async def schedules(self) -> list[RitualSchedule]:
        """Every ritual's timing (a few columns, no joins): read by each instance every
        few seconds to add, move or drop its timer jobs."""
        async with self._db.sessions() as session:
            rows = await session.execute(
                select(Ritual.id, Ritual.cron, Ritual.timezone, Ritual.paused)
            )
            return [RitualSchedule(r.id, r.cron, r.timezone, r.paused) for r in rows]

    async def change(self, ritual_id: int, **values: Any) -> RitualView:
        async with self._db.sessions.begin() as session:
            row = await session.get(Ritual, ritual_id)
            if row is None:
                raise NotFound("That ritual no longer exists.")
            for key, value in values.items():
                setattr(row, key, value)
            await session.flush()
            return ritual_view(row)

    async def remove(self, ritual_id: int) -> None:
        async with self._db.sessions.begin() as session:
            row = await session.get(Ritual, ritual_id)
            if row is not None:
                await session.delete(row)

    async def by_ids(self, ritual_ids: Sequence[int]) -> list[RitualView]:
        """The rituals with these ids that still exist, in one query per CHUNK ids."""
        found: list[RitualView] = []
        async with self._db.sessions() as session:
            for start in range(0, len(ritual_ids), CHUNK):
                chunk = list(ritual_ids[start : start + CHUNK])
                rows = await session.scalars(select(Ritual).where(Ritual.id.in_(chunk)))
                found.extend(ritual_view(r) for r in rows)
        return found

    async def open_rounds(self, slots: Sequence[NewRound], now: datetime) -> list[OpenedRound]:
        """Create the rounds for many due slots in one transaction, three statements per
        CHUNK slots: the rounds (a slot someone else holds is skipped: at most one creator
        per round), the prompt rotation of the rituals whose round was created, and their
        communities' own prompts. Only the rounds created here are returned."""
        opened: list[OpenedRound] = []
        async with self._db.sessions.begin() as session:
            for start in range(0, len(slots), CHUNK):
                chunk = slots[start : start + CHUNK]
                created = await session.execute(
                    insert_many_ignoring_conflict(
                        session, RitualRound, ["ritual_id", "scheduled_for"]
                    ).returning(*RitualRound.__table__.c),
                    [
                        {
                            "ritual_id": s.ritual_id,
                            "scheduled_for": s.scheduled_for,
                            "status": RoundStatus.PENDING,
                            "late": s.late,
                            "manual": False,
                            "attempts": 0,
                            "prompt": "",
                            "next_attempt_at": now + LEASE,
                            "synthesis_stale": False,
                        }
                        for s in chunk
                    ],
                )
                rounds = {r.ritual_id: _round_from_row(r) for r in created}
                if not rounds:
                    continue
                cursors = await session.execute(
                    update(Ritual)
                    .where(Ritual.id.in_(list(rounds)))
                    .values(prompt_cursor=Ritual.prompt_cursor + 1)
                    .returning(Ritual.id, Ritual.prompt_cursor)
                    .execution_options(synchronize_session=False)
                )
                index = {ritual_id: cursor - 1 for ritual_id, cursor in cursors}
                wanted = {(s.community_id, s.kind) for s in chunk if s.ritual_id in rounds}
                own: dict[tuple[int, RitualKind], list[str]] = {}
                prompts = await session.execute(
                    select(CommunityPrompt.community_id, CommunityPrompt.kind, CommunityPrompt.text)
                    .where(CommunityPrompt.community_id.in_({c for c, _ in wanted}))
                    .order_by(CommunityPrompt.id)
                )
                for community_id, kind, text in prompts:
                    own.setdefault((community_id, kind), []).append(text)
                for s in chunk:
                    if s.ritual_id in rounds:
                        opened.append(
                            OpenedRound(
                                rounds[s.ritual_id],
                                index.get(s.ritual_id, 0),
                                tuple(own.get((s.community_id, s.kind), ())),
                            )
                        )
        return opened

    async def mark_opened_many(self, posted: Sequence[PostedPrompt]) -> None:
        """`mark_opened` for many rounds in one transaction (one executemany)."""
        if not posted:
            return
        table = cast(Table, RitualRound.__table__)
        async with self._db.sessions.begin() as session:
            connection = await session.connection()
            await connection.execute(
                update(table).where(table.c.id == bindparam("round_id")),
                [
                    {
                        "round_id": p.round_id,
                        "status": RoundStatus.CLOSED if p.closed else RoundStatus.OPEN,
                        "prompt": p.prompt,
                        "message_id": p.message_id,
                        "opened_at": p.opened_at,
                        "remind_at": p.remind_at,
                        "closes_at": p.closes_at,
                        "closed_at": p.opened_at if p.closed else None,
                        "next_attempt_at": None,
                        "last_error": None,
                    }
                    for p in posted
                ],
            )

    async def next_prompt_index(self, ritual_id: int) -> int:
        """Advance the ritual's place in its prompt rotation; returns the index to use."""
        async with self._db.sessions.begin() as session:
            row = await session.get(Ritual, ritual_id)
            if row is None:
                return 0
            index = row.prompt_cursor
            row.prompt_cursor = index + 1
            return index

    # rounds --------------------------------------------------------------------------

    async def create_round(
        self,
        ritual_id: int,
        scheduled_for: datetime,
        now: datetime,
        *,
        status: RoundStatus = RoundStatus.PENDING,
        late: bool = False,
        manual: bool = False,
    ) -> RoundView | None:
        """The round for this slot, if this call created it (the caller then owns posting)."""
        async with self._db.sessions.begin() as session:
            new_id = await session.scalar(
                insert_ignoring_conflict(
                    session,
                    RitualRound,
                    {
                        "ritual_id": ritual_id,
                        "scheduled_for": scheduled_for,
                        "status": status,
                        "late": late,
                        "manual": manual,
                        "attempts": 0,
                        "prompt": "",
                        "next_attempt_at": now + LEASE,
                        "synthesis_stale": False,
                    },
                    ["ritual_id", "scheduled_for"],
                ).returning(RitualRound.id)
            )
            if new_id is None:
                return None
            row = await session.get(RitualRound, new_id)
            assert row is not None
            return round_view(row)

    async def last_slot(self, ritual_id: int) -> datetime | None:
        """The latest scheduled (not run-now) slot this ritual has a round for."""
        async with self._db.sessions() as session:
            found: datetime | None = await session.scalar(
                select(func.max(RitualRound.scheduled_for)).where(
                    RitualRound.ritual_id == ritual_id, RitualRound.manual.is_(False)
                )
            )
            return found

    async def last_slots(self, ritual_ids: Sequence[int] | None = None) -> dict[int, datetime]:
        """`last_slot` for every ritual (or those named) in one query per CHUNK ids."""
        query = (
            select(RitualRound.ritual_id, func.max(RitualRound.scheduled_for))
            .where(RitualRound.manual.is_(False))
            .group_by(RitualRound.ritual_id)
        )
        async with self._db.sessions() as session:
            if ritual_ids is None:
                return {ritual_id: slot for ritual_id, slot in (await session.execute(query))}
            found: dict[int, datetime] = {}
            for start in range(0, len(ritual_ids), CHUNK):
                chunk = list(ritual_ids[start : start + CHUNK])
                rows = await session.execute(query.where(RitualRound.ritual_id.in_(chunk)))
                found.update({ritual_id: slot for ritual_id, slot in rows})
            return found

    async def last_round(self, ritual_id: int) -> RoundView | None:
        async with self._db.sessions() as session:
            row = await session.scalar(
                select(RitualRound)
                .where(RitualRound.ritual_id == ritual_id)
                .order_by(RitualRound.scheduled_for.desc())
                .limit(1)
            )
            return None if row is None else round_view(row)

    async def rounds(self, ritual_id: int, limit: int = 5) -> list[RoundView]:
        async with self._db.sessions() as session:
            rows = await session.scalars(
                select(RitualRound)
                .where(RitualRound.ritual_id == ritual_id)
                .order_by(RitualRound.scheduled_for.desc())
                .limit(limit)
            )
            return [round_view(r) for r in rows]

    async def round(self, round_id: int) -> RoundView | None:
        async with self._db.sessions() as session:
            row = await session.get(RitualRound, round_id)
            return None if row is None else round_view(row)

    async def claim_pending(self, round_id: int, now: datetime) -> bool:
        """Take the right to (re)try posting this round's prompt for one lease period."""
        return await self._claim(
            round_id,
            and_(RitualRound.status == RoundStatus.PENDING, RitualRound.next_attempt_at <= now),
            next_attempt_at=now + LEASE,
        )

    async def claim_reminder(self, round_id: int, now: datetime) -> bool:
        return await self._claim(
            round_id,
            and_(RitualRound.status == RoundStatus.OPEN, RitualRound.reminded_at.is_(None)),
            reminded_at=now,
        )

    async def claim_close(self, round_id: int, now: datetime) -> bool:
        return await self._claim(
            round_id,
            RitualRound.status == RoundStatus.OPEN,
            status=RoundStatus.CLOSED,
            closed_at=now,
            synthesis_stale=True,
        )

    async def claim_synthesis(self, round_id: int, now: datetime) -> bool:
        """Take the right to post (or edit) the synthesis: when it is stale, or when an
        earlier taker's lease ran out before it posted one (it crashed)."""
        return await self._claim(
            round_id,
            and_(RitualRound.status == RoundStatus.CLOSED, _synthesis_wanted(now)),
            synthesis_stale=False,
            next_attempt_at=now + LEASE,
        )

    async def _claim(self, round_id: int, condition: Any, **values: Any) -> bool:
        async with self._db.sessions.begin() as session:
            result = await session.execute(
                update(RitualRound)
                .where(RitualRound.id == round_id, condition)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            return bool(getattr(result, "rowcount", 0) == 1)

    async def mark_opened(
        self,
        round_id: int,
        prompt: str,
        message_id: str,
        opened_at: datetime,
        remind_at: datetime | None,
        closes_at: datetime,
        *,
        closed: bool = False,
    ) -> None:
        await self._set(
            round_id,
            status=RoundStatus.CLOSED if closed else RoundStatus.OPEN,
            prompt=prompt,
            message_id=message_id,
            opened_at=opened_at,
            remind_at=remind_at,
            closes_at=closes_at,
            closed_at=opened_at if closed else None,
            next_attempt_at=None,
            last_error=None,
        )

    async def mark_failed(self, round_id: int, error: str, retry_at: datetime) -> None:
        async with self._db.sessions.begin() as session:
            row = await session.get(RitualRound, round_id)
            if row is not None:
                row.attempts += 1
                row.last_error = error[:2000]
                row.next_attempt_at = retry_at

    async def mark_synthesis(self, round_id: int, message_id: str | None, stale: bool) -> None:
        values: dict[str, Any] = {"synthesis_stale": stale, "next_attempt_at": None}
        if message_id is not None:
            values["synthesis_message_id"] = message_id
        await self._set(round_id, **values)

    async def _set(self, round_id: int, **values: Any) -> None:
        async with self._db.sessions.begin() as session:
            await session.execute(
                update(RitualRound).where(RitualRound.id == round_id).values(**values)
            )

    async def due(self, now: datetime) -> list[RoundView]:
        """Rounds with work to do now: a post to retry, a reminder, a close, a synthesis."""
        async with self._db.sessions() as session:
            rows = await session.scalars(
                select(RitualRound).where(
                    or_(
                        and_(
                            RitualRound.status == RoundStatus.PENDING,
                            RitualRound.next_attempt_at <= now,
                        ),
                        and_(
                            RitualRound.status == RoundStatus.OPEN,
                            or_(
                                RitualRound.closes_at <= now,
                                and_(
                                    RitualRound.remind_at <= now,
                                    RitualRound.reminded_at.is_(None),
                                ),
                            ),
                        ),
                        and_(RitualRound.status == RoundStatus.CLOSED, _synthesis_wanted(now)),
                    )
                )
            )
            return [round_view(r) for r in rows]

    async def next_deadline(self) -> datetime | None:
        """The earliest future moment a round needs attention (to arm one timer)."""
        async with self._db.sessions() as session:
            candidates = [
                await session.scalar(
                    select(func.min(RitualRound.next_attempt_at)).where(
                        RitualRound.status == RoundStatus.PENDING
                    )
                ),
                await session.scalar(
                    select(func.min(RitualRound.closes_at)).where(
                        RitualRound.status == RoundStatus.OPEN
                    )
                ),
                await session.scalar(
                    select(func.min(RitualRound.remind_at)).where(
                        RitualRound.status == RoundStatus.OPEN,
                        RitualRound.reminded_at.is_(None),
                    )
                ),
            ]
            found = [c for c in candidates if c is not None]
            return min(found) if found else None

    async def round_for_prompt(
        self, platform: str, space: str, channel: str, message_id: str
    ) -> tuple[RitualView, RoundView] | None:
        async with self._db.sessions() as session:
            found = (
                await session.execute(
                    select(Ritual, RitualRound)
                    .join(RitualRound, RitualRound.ritual_id == Ritual.id)
                    .where(
                        Ritual.platform == platform,
                        Ritual.space == space,
                        Ritual.channel == channel,
                        RitualRound.message_id == message_id,
                    )
                )
            ).first()
            return None if found is None else (ritual_view(found[0]), round_view(found[1]))

    async def completion(self, ritual_id: int) -> Completion:
        async with self._db.sessions() as session:
            held = (RoundStatus.OPEN, RoundStatus.CLOSED)
            rounds = await session.scalar(
                select(func.count(RitualRound.id)).where(
                    RitualRound.ritual_id == ritual_id, RitualRound.status.in_(held)
                )
            )
            missed = await session.scalar(
                select(func.count(RitualRound.id)).where(
                    RitualRound.ritual_id == ritual_id,
                    RitualRound.status == RoundStatus.MISSED,
                )
            )
            live = and_(
                RitualResponse.round_id == RitualRound.id,
                RitualRound.ritual_id == ritual_id,
                RitualResponse.deleted_at.is_(None),
            )
            answered = await session.scalar(
                select(func.count(func.distinct(RitualResponse.round_id))).where(live)
            )
            responses = await session.scalar(select(func.count(RitualResponse.id)).where(live))
            participants = await session.scalar(
                select(func.count(func.distinct(RitualResponse.member_id))).where(live)
            )
            return Completion(
                int(rounds or 0),
                int(answered or 0),
                int(responses or 0),
                int(participants or 0),
                int(missed or 0),
            )

    # responses -----------------------------------------------------------------------

    async def add_response(
        self,
        round_id: int,
        message_id: str,
        member_id: int | None,
        text: str,
        *,
        anonymous: bool,
        late: bool,
    ) -> bool:
        async with self._db.sessions.begin() as session:
            inserted = await session.scalar(
                insert_ignoring_conflict(
                    session,
                    RitualResponse,
                    {
                        "round_id": round_id,
                        "message_id": message_id,
                        "member_id": member_id,
                        "text": text,
                        "anonymous": anonymous,
                        "late": late,
                    },
                    ["round_id", "message_id"],
                ).returning(RitualResponse.id)
            )
            return inserted is not None

    async def change_response(
        self,
        round_id: int,
        message_id: str,
        *,
        text: str | None = None,
        deleted_at: datetime | None = None,
    ) -> bool:
        values: dict[str, Any] = {}
        if text is not None:
            values["text"] = text
        if deleted_at is not None:
            values["deleted_at"] = deleted_at
        async with self._db.sessions.begin() as session:
            result = await session.execute(
                update(RitualResponse)
                .where(RitualResponse.round_id == round_id, RitualResponse.message_id == message_id)
                .values(**values)
            )
            return bool(getattr(result, "rowcount", 0))

    async def responses(self, round_id: int) -> list[ResponseView]:
        async with self._db.sessions() as session:
            rows = (
                await session.execute(
                    select(RitualResponse, Member.display_name, Member.forgotten_at)
                    .outerjoin(Member, Member.id == RitualResponse.member_id)
                    .where(
                        RitualResponse.round_id == round_id,
                        RitualResponse.deleted_at.is_(None),
                    )
                    .order_by(RitualResponse.id)
                )
            ).all()
            return [
                ResponseView(
                    r.id,
                    r.member_id,
                    FORGOTTEN_NAME if name is None or forgotten else name,
                    r.text,
                    r.anonymous,
                    r.late,
                    r.created_at,
                )
                for r, name, forgotten in rows
            ]

    async def respondent_round_for(
        self, platform: str, space: str, channel: str, message_id: str
    ) -> int | None:
        """The round a response message belongs to (to follow its edits and deletions)."""
        async with self._db.sessions() as session:
            found = await session.scalar(
                select(RitualResponse.round_id)
                .join(RitualRound, RitualRound.id == RitualResponse.round_id)
                .join(Ritual, Ritual.id == RitualRound.ritual_id)
                .where(
                    Ritual.platform == platform,
                    Ritual.space == space,
                    Ritual.channel == channel,
                    RitualResponse.message_id == message_id,
                )
            )
            return None if found is None else int(found)

    # members' own choices ------------------------------------------------------------

    async def preferences(self, member_id: int) -> MemberPreference:
        async with self._db.sessions() as session:
            row = await session.get(MemberPreference, member_id)
            return row or MemberPreference(member_id=member_id, reminders=False)

    async def set_preferences(self, member_id: int, **values: Any) -> None:
        async with self._db.sessions.begin() as session:
            await session.execute(
                insert_ignoring_conflict(
                    session,
                    MemberPreference,
                    {"member_id": member_id, "reminders": False},
                    ["member_id"],
                )
            )
            await session.execute(
                update(MemberPreference)
                .where(MemberPreference.member_id == member_id)
                .values(**values)
            )

    async def reminder_names(
        self, community_id: int, round_id: int, platform: str, now: datetime
    ) -> list[str]:
        """Members who asked for reminders, have not answered, and are not snoozed."""
        async with self._db.sessions() as session:
            answered = select(RitualResponse.member_id).where(
                RitualResponse.round_id == round_id, RitualResponse.member_id.is_not(None)
            )
            rows = await session.scalars(
                select(Identity.display_name)
                .join(Member, Member.id == Identity.member_id)
                .join(MemberPreference, MemberPreference.member_id == Member.id)
                .where(
                    Member.community_id == community_id,
                    Member.forgotten_at.is_(None),
                    Identity.platform == platform,
                    MemberPreference.reminders.is_(True),
                    or_(
                        MemberPreference.snoozed_until.is_(None),
                        MemberPreference.snoozed_until <= now,
                    ),
                    Member.id.not_in(answered),
                )
                .order_by(Identity.display_name)
            )
            return list(dict.fromkeys(rows))

    # prompt library ------------------------------------------------------------------

    async def add_prompt(
        self, community_id: int, kind: RitualKind, text: str, member_id: int | None
    ) -> bool:
        async with self._db.sessions.begin() as session:
            inserted = await session.scalar(
                insert_ignoring_conflict(
                    session,
                    CommunityPrompt,
                    {
                        "community_id": community_id,
                        "kind": kind,
                        "text": text,
                        "added_by_member_id": member_id,
                    },
                    ["community_id", "kind", "text"],
                ).returning(CommunityPrompt.id)
            )
            return inserted is not None

    async def community_prompts(self, community_id: int, kind: RitualKind) -> Sequence[str]:
        async with self._db.sessions() as session:
            rows = await session.scalars(
                select(CommunityPrompt.text)
                .where(CommunityPrompt.community_id == community_id, CommunityPrompt.kind == kind)
                .order_by(CommunityPrompt.id)
            )
            return list(rows)
