"""At-least-once, handled-once platform events, across crashes, restarts and processes.

An event is *taken* before it is handled and marked *done* after (for a command: after
its reply was delivered). The row names its taker, an instance whose liveness is known
(knowledge/liveness.py), so a redelivery is:
- handled if the event is new, or if its taker died before finishing (taken over at once,
  atomically: a conditional UPDATE on the old taker, so two survivors never both win);
- skipped if it is done, or if this very instance took it within the lease (it is being
  handled here; after the lease, its handler here failed and a redelivery retries it);
- held if another *live* instance is handling it: `take(..., wait=...)` polls until that
  one finishes or dies, so a caller that must not move on (the Matrix sync token) never
  passes an unfinished event; after `wait` it raises `StillInFlight` instead.
Rows written before takers were recorded keep the old rule: retried after a 60 s lease.
Everything handlers do is idempotent on its own keys, so a second run after a crash is
safe; `Taken.resumed` tells the handler an earlier attempt may have got part-way (a reply
may already be posted).
"""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import ColumnElement, Update, select, update

from knowledge.db import Database
from knowledge.models import InboundEvent
from knowledge.sqlite_thread import on_connection_thread, time_binder
from knowledge.upsert import insert_ignoring_conflict

log = structlog.get_logger(__name__)

LEASE = timedelta(seconds=60)  # only for rows without a recorded taker
POLL_SECONDS = 0.2


@dataclass(frozen=True)
class Taken:
    """The caller handles the event; `resumed`: a dead taker may have done part of it."""

    resumed: bool = False


class StillInFlight(Exception):
    """Another live instance is still handling the event after the wait allowed."""


_HELD = object()  # another live instance has it (or, without a taker, its lease runs)


class InboundLog:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def take(
        self, platform: str, event_id: str, now: datetime | None = None, *, wait: float = 0
    ) -> Taken | None:
        """Taken if the caller should handle this event now, None to skip it.

        `wait` (seconds): how long to wait for another live instance handling the same
        event; 0 skips such an event at once (for callers whose platform redelivers).
        """
        deadline = asyncio.get_running_loop().time() + wait
        while True:
            outcome = await self._attempt(platform, event_id, now or self._db.clock.now())
            if outcome is not _HELD:
                assert outcome is None or isinstance(outcome, Taken)
                return outcome
            if wait <= 0:
                return None
            if asyncio.get_running_loop().time() >= deadline:
                raise StillInFlight(f"{platform} event {event_id} is still being handled")
            await asyncio.sleep(POLL_SECONDS)  # the other instance finishes or dies

    async def _attempt(self, platform: str, event_id: str, now: datetime) -> object:
        me = await self._db.liveness.instance()
        if self._db.dialect == "sqlite":  # the usual case, a new event: one statement, one hop
            received = time_binder(self._db)(now)
            if await on_connection_thread(self._db, _insert_new, platform, event_id, received, me):
                return Taken()
        key = (InboundEvent.platform == platform, InboundEvent.event_id == event_id)
        async with self._db.sessions.begin() as session:
            inserted = await session.scalar(
                insert_ignoring_conflict(
                    session,
                    InboundEvent,
                    {
                        "platform": platform,
                        "event_id": event_id,
                        "received_at": now,
                        "taken_by": me,
                    },
                    ["platform", "event_id"],
                ).returning(InboundEvent.event_id)
            )
            if inserted is not None:
                return Taken()
            row = (
                await session.execute(
                    select(
                        InboundEvent.done_at, InboundEvent.taken_by, InboundEvent.received_at
                    ).where(*key)
                )
            ).one()
        done_at, taker, received_at = row
        still: tuple[ColumnElement[bool], ...]
        if done_at is not None:
            return None
        if taker == me or taker is None:  # in flight here, or an old row: the lease decides
            if received_at >= now - LEASE:
                return None if taker == me else _HELD
            stale = InboundEvent.received_at < now - LEASE
            still = (
                InboundEvent.taken_by == me if taker else InboundEvent.taken_by.is_(None),
                stale,
            )
        elif await self._db.liveness.alive(taker):
            return _HELD
        else:
            still = (InboundEvent.taken_by == taker,)
        async with self._db.sessions.begin() as session:
            moved = await session.execute(
                update(InboundEvent)
                .where(*key, InboundEvent.done_at.is_(None), *still)
                .values(taken_by=me, received_at=now)
            )
        if getattr(moved, "rowcount", 0) != 1:
            return _HELD  # someone else moved first: look again
        log.info("inbound.taken_over", platform=platform, event_id=event_id, from_=taker)
        return Taken(resumed=True)

    async def done(self, platform: str, event_id: str) -> None:
        async with self._db.sessions.begin() as session:
            await session.execute(
                update(InboundEvent)
                .where(InboundEvent.platform == platform, InboundEvent.event_id == event_id)
                .values(done_at=self._db.clock.now())
            )

    async def done_many(self, platform: str, event_ids: list[str]) -> None:
        """`done` for several events, in one statement."""
        async with self._db.sessions.begin() as session:
            await session.execute(mark_done(platform, event_ids, self._db.clock.now()))


def _insert_new(
    connection: sqlite3.Connection, platform: str, event_id: str, received_at: str, taker: str
) -> bool:
    """On SQLite's thread: record the event as taken unless it is known (autocommit)."""
    found = connection.execute(
        "INSERT INTO inbound_events (platform, event_id, received_at, done_at, taken_by)"
        " VALUES (?, ?, ?, NULL, ?) ON CONFLICT (platform, event_id) DO NOTHING"
        " RETURNING event_id",
        (platform, event_id, received_at, taker),
    ).fetchall()
    return bool(found)


def mark_done(platform: str, event_ids: list[str], now: datetime) -> Update:
    """The UPDATE that marks these events done (also run inside other transactions)."""
    return (
        update(InboundEvent)
        .where(InboundEvent.platform == platform, InboundEvent.event_id.in_(event_ids))
        .values(done_at=now)
    )
