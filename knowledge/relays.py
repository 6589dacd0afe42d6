"""Relayed threads: who takes part, what was written where, and where its copies went.

The origin ↔ copies map lives here, unbounded and durable, so an edit, a deletion or a
reply finds its copies after any restart. Queuing a relay is a row in the outbox written
in the same transaction as the message it relays, keyed so a redelivered event or a
catch-up pass can never queue it twice.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from knowledge.models import SyncCursor
from knowledge.relay_lookup import RelayLookup
from knowledge.relay_queue import RelayQueue
from knowledge.relay_rows import (
    ChannelKey,
    Claim,
    Handed,
    Located,
    NewTarget,
    Participant,
    Recorded,
    RelayedMessage,
    Route,
)
from knowledge.upsert import insert_ignoring_conflict

__all__ = [
    "CATCH_UP_KEY",
    "ChannelKey",
    "Claim",
    "Handed",
    "Located",
    "NewTarget",
    "Participant",
    "Recorded",
    "RelayStore",
    "RelayedMessage",
    "Route",
]

CATCH_UP_KEY = "relay-catch-up"  # its row among the sync cursors, one per platform


class RelayStore(RelayLookup, RelayQueue):
    """The lookup, the queue, and where catch-up left each platform's history."""

    async def catch_up_position(self, platform: str) -> str | None:
        """Where the last complete catch-up on `platform` left its history (`ChangeFeed`)."""
        async with self._db.sessions() as session:
            return await session.scalar(
                select(SyncCursor.token).where(
                    SyncCursor.platform == platform, SyncCursor.key == CATCH_UP_KEY
                )
            )

    async def save_catch_up_position(self, platform: str, position: str, now: datetime) -> None:
        async with self._db.sessions.begin() as session:
            inserted = await session.scalar(
                insert_ignoring_conflict(
                    session,
                    SyncCursor,
                    {
                        "platform": platform,
                        "key": CATCH_UP_KEY,
                        "token": position,
                        "updated_at": now,
                    },
                    ["platform", "key"],
                ).returning(SyncCursor.key)
            )
            if inserted is None:
                await session.execute(
                    update(SyncCursor)
                    .where(SyncCursor.platform == platform, SyncCursor.key == CATCH_UP_KEY)
                    .values(token=position, updated_at=now)
                )
