"""Ritual rounds after creation: reads, the claims that make each step happen once, and
what is due.

Every step that posts (open, remind, close, synthesis) is claimed by one conditional
UPDATE, so several Hearth processes on one database never post the same thing twice.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, update

from knowledge.models import Ritual, RitualResponse, RitualRound
from knowledge.ritual_rows import (
    CHUNK,
    LEASE,
    Completion,
    RitualTables,
    RitualView,
    RoundView,
    ritual_view,
    round_view,
)
from knowledge.sqlite_thread import on_connection_thread
from knowledge.vocabulary import RoundStatus


def _synthesis_wanted(now: datetime) -> Any:
    return or_(
        RitualRound.synthesis_stale.is_(True),
        and_(
            RitualRound.synthesis_message_id.is_(None),
            RitualRound.next_attempt_at.is_not(None),
            RitualRound.next_attempt_at <= now,
        ),
    )


class RitualRounds(RitualTables):
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
                await session.scalar(
                    select(func.min(RitualRound.joint_due_at)).where(
                        RitualRound.joint_message_id.is_(None),
                        RitualRound.status.in_((RoundStatus.OPEN, RoundStatus.CLOSED)),
                    )
                ),
            ]
            found = [c for c in candidates if c is not None]
            return min(found) if found else None

    async def round_for_prompt(
        self, platform: str, space: str, channel: str, message_id: str
    ) -> tuple[RitualView, RoundView] | None:
        key = (platform, space, channel, message_id)
        if self._db.dialect == "sqlite" and not await on_connection_thread(
            self._db, _is_prompt, key
        ):  # every reply in a thread asks; almost none answers a prompt: one hop, no lock
            return None
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


def _is_prompt(connection: sqlite3.Connection, key: tuple[str, str, str, str]) -> bool:
    """On SQLite's thread: whether a round's prompt is this message (one statement)."""
    return bool(
        connection.execute(
            "SELECT 1 FROM ritual_rounds JOIN rituals ON rituals.id = ritual_rounds.ritual_id"
            " WHERE rituals.platform = ? AND rituals.space = ? AND rituals.channel = ?"
            " AND ritual_rounds.message_id = ? LIMIT 1",
            key,
        ).fetchall()
    )
