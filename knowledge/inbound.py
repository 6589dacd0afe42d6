"""At-most-once handling of platform events, across restarts and processes.

An event is *taken* before it is handled and marked *done* after. A redelivery of a done
event, or of one another process is handling right now, is skipped; a redelivery of one
whose taker died (its lease ran out) is handled again, so a crash loses nothing.
Everything handlers do is idempotent on its own keys, so that second run is safe.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update

from knowledge.db import Database
from knowledge.models import InboundEvent
from knowledge.upsert import insert_ignoring_conflict

LEASE = timedelta(seconds=60)


class InboundLog:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def take(self, platform: str, event_id: str, now: datetime | None = None) -> bool:
        """True if the caller should handle this event now."""
        now = now or self._db.clock.now()
        async with self._db.sessions.begin() as session:
            inserted = await session.scalar(
                insert_ignoring_conflict(
                    session,
                    InboundEvent,
                    {"platform": platform, "event_id": event_id, "received_at": now},
                    ["platform", "event_id"],
                ).returning(InboundEvent.event_id)
            )
            if inserted is not None:
                return True
            abandoned = await session.execute(
                update(InboundEvent)
                .where(
                    InboundEvent.platform == platform,
                    InboundEvent.event_id == event_id,
                    InboundEvent.done_at.is_(None),
                    InboundEvent.received_at < now - LEASE,
                )
                .values(received_at=now)
            )
            return bool(getattr(abandoned, "rowcount", 0) == 1)

    async def done(self, platform: str, event_id: str) -> None:
        async with self._db.sessions.begin() as session:
            await session.execute(
                update(InboundEvent)
                .where(InboundEvent.platform == platform, InboundEvent.event_id == event_id)
                .values(done_at=self._db.clock.now())
            )
