"""Per-member rate limits shared by every instance: fixed windows counted in the store.

One conditional upsert counts a use only while the window has room, so instances racing
on the same member never let more through than the limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete

from knowledge.db import Database
from knowledge.models import RateWindow
from knowledge.upsert import dialect_insert

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Limit:
    action: str  # what is counted, e.g. "model" or "invite"
    allowed: int  # uses per window; 0 or less: unlimited
    per: timedelta


class RateLimits:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def spend(self, member_id: int, limit: Limit) -> timedelta | None:
        """Count one use. None if it was allowed, else how long until the window resets."""
        if limit.allowed <= 0:
            return None
        now = self._db.clock.now()
        start = EPOCH + limit.per * ((now - EPOCH) // limit.per)
        async with self._db.sessions.begin() as session:
            insert = dialect_insert(self._db.dialect)
            statement = insert(RateWindow).values(
                member_id=member_id, action=limit.action, window_start=start, used=1
            )
            used = await session.scalar(
                statement.on_conflict_do_update(
                    index_elements=["member_id", "action", "window_start"],
                    set_={"used": RateWindow.used + 1},
                    where=RateWindow.used < limit.allowed,
                ).returning(RateWindow.used)
            )
            await session.execute(  # earlier windows of this member's action are spent
                delete(RateWindow).where(
                    RateWindow.member_id == member_id,
                    RateWindow.action == limit.action,
                    RateWindow.window_start < start,
                )
            )
        return None if used is not None else start + limit.per - now
