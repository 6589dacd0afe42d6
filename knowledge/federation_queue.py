"""The federation delivery queue: signed POSTs to remote inboxes, durable and ordered.

The relay outbox's rules (knowledge/outbox.py) on a table of its own, because a remote
inbox is not a relay participant: an item is claimed with a lease (PostgreSQL skips rows
another process holds; SQLite serialises writers); items of one inbox (a lane) go in id
order, an item being due only when no earlier item of its lane is pending or parked; a
failure backs off, then parks (a host that is down only after `[relay]
remote_retry_hours`). Enqueueing is idempotent by key, so whatever queues an
activity can be re-run after a crash without sending it twice.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from knowledge.db import Database
from knowledge.models import FederationDelivery
from knowledge.outbox import LEASE, worker_name
from knowledge.upsert import insert_ignoring_conflict

PENDING, DELIVERED, PARKED, GONE = "pending", "delivered", "parked", "gone"


def aware(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive UTC from RETURNING: give it its zone."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Delivery:
    """What to queue: `activity` to `inbox`, signed as `community_id`."""

    key: str  # any stable text naming this send; stored as its SHA-256
    community_id: int
    inbox: str
    activity: dict[str, Any]


@dataclass(frozen=True)
class ClaimedDelivery:
    id: int
    community_id: int
    inbox: str
    activity: dict[str, Any]
    failures: int
    queued_at: datetime | None = None  # how long this lane has waited (a host down)


async def enqueue(session: AsyncSession, deliveries: list[Delivery], now: datetime) -> None:
    """Queue inside the caller's transaction (with the change the activity reports)."""
    if not deliveries:
        return
    rows = [
        {
            "key": digest(d.key),
            "community_id": d.community_id,
            "inbox": d.inbox,
            "lane": digest(d.inbox),
            "activity": d.activity,
            "status": PENDING,
            "attempts": 0,
            "failures": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for d in deliveries
    ]
    await session.execute(insert_ignoring_conflict(session, FederationDelivery, rows, ["key"]))


class DeliveryQueue:
    def __init__(self, database: Database, worker: str | None = None) -> None:
        self._db = database
        self.worker = worker or worker_name()

    async def add(self, deliveries: list[Delivery], now: datetime) -> None:
        async with self._db.sessions.begin() as session:
            await enqueue(session, deliveries, now)

    async def claim(self, now: datetime, limit: int = 16) -> list[ClaimedDelivery]:
        earlier = aliased(FederationDelivery)
        row = FederationDelivery
        blocked = exists().where(
            earlier.lane == row.lane,
            earlier.id < row.id,
            earlier.status.in_([PENDING, PARKED]),
        )
        free = or_(row.claimed_until.is_(None), row.claimed_until < now)
        due = (
            select(row.id)
            .where(row.status == PENDING, row.next_attempt_at <= now, free, ~blocked)
            .order_by(row.id)
            .limit(limit)
        )
        async with self._db.sessions.begin() as session:
            if self._db.dialect == "postgresql":
                due = due.with_for_update(skip_locked=True, of=row)
            ids = list((await session.scalars(due)).all())
            if not ids:
                return []
            taken = (
                await session.execute(
                    update(row)
                    .where(row.id.in_(ids), free)
                    .values(
                        claimed_by=self.worker,
                        claimed_until=now + LEASE,
                        attempts=row.attempts + 1,
                    )
                    .returning(
                        row.id,
                        row.community_id,
                        row.inbox,
                        row.activity,
                        row.failures,
                        row.created_at,
                    )
                )
            ).all()
        return sorted(
            (
                ClaimedDelivery(i, c, inbox, dict(a), f, aware(at))
                for i, c, inbox, a, f, at in taken
            ),
            key=lambda item: item.id,
        )

    async def delivered(self, item_id: int, now: datetime) -> None:
        await self._set(item_id, status=DELIVERED, delivered_at=now, last_error=None)

    async def retry_at(
        self, item_id: int, at: datetime, error: str, *, failure: bool = True
    ) -> None:
        await self._set(
            item_id,
            next_attempt_at=at,
            last_error=error[:500],
            failures=FederationDelivery.failures + (1 if failure else 0),
        )

    async def park(self, item_id: int, error: str) -> None:
        """Stop trying (its lane waits behind it) until `retry_parked`."""
        await self._set(
            item_id, status=PARKED, last_error=error[:500], failures=FederationDelivery.failures + 1
        )

    async def gone(self, item_id: int, error: str) -> None:
        """The inbox no longer exists (410): never retried, and it holds no lane."""
        await self._set(item_id, status=GONE, last_error=error[:500])

    async def retry_parked(self) -> int:
        """Parked deliveries pending again; their due time was reached before they parked,
        so they are due at once (whatever clock the caller has)."""
        async with self._db.sessions.begin() as session:
            result = await session.execute(
                update(FederationDelivery)
                .where(FederationDelivery.status == PARKED)
                .values(status=PENDING, failures=0)
            )
            return int(getattr(result, "rowcount", 0) or 0)

    async def counts(self) -> dict[str, int]:
        async with self._db.sessions() as session:
            rows = (
                await session.execute(
                    select(FederationDelivery.status, func.count()).group_by(
                        FederationDelivery.status
                    )
                )
            ).all()
        return {str(status): int(n) for status, n in rows}

    async def next_due(self) -> datetime | None:
        async with self._db.sessions() as session:
            due: datetime | None = await session.scalar(
                select(func.min(FederationDelivery.next_attempt_at)).where(
                    FederationDelivery.status == PENDING
                )
            )
            return due

    async def _set(self, item_id: int, **values: Any) -> None:
        async with self._db.sessions.begin() as session:
            await session.execute(
                update(FederationDelivery)
                .where(FederationDelivery.id == item_id)
                .values(claimed_until=None, **values)
            )
