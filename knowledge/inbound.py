"""At-most-once handling of platform events, across restarts and processes."""

from __future__ import annotations

from knowledge.db import Database
from knowledge.models import InboundEvent
from knowledge.upsert import insert_ignoring_conflict


class InboundLog:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def first_delivery(self, platform: str, event_id: str) -> bool:
        """True exactly once per (platform, event id), whoever asks first."""
        async with self._db.sessions.begin() as session:
            inserted = await session.scalar(
                insert_ignoring_conflict(
                    session,
                    InboundEvent,
                    {"platform": platform, "event_id": event_id},
                    ["platform", "event_id"],
                ).returning(InboundEvent.event_id)
            )
            return inserted is not None
