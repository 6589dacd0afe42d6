"""The relay outbox: claiming due items and recording outcomes (its reports: outbox_reports.py).

Exactly-once has two halves. Here: an item is claimed with a lease (PostgreSQL skips rows
another process holds, `FOR UPDATE SKIP LOCKED`; SQLite serialises writers), delivered,
then marked delivered together with the copy it made. Between posting and marking, a
crash leaves the claim to expire; the retry then says `maybe_posted`, and the adapter's
idempotency key (Matrix transaction id, console transcript, a key the adapter can look
for on Slack and Discord) turns the second send into the first one's message.

Order: items of one target channel (a lane) go in id order; an item is only due when no
earlier item of its lane is still pending or parked. Notices stand outside lanes.
"""

from __future__ import annotations

import os
import socket
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.orm import aliased

from knowledge.db import Database
from knowledge.models import Link, LinkSide, OutboxItem, RelayCopy, RelayMessage, RelayParticipant
from knowledge.outbox_reports import OutboxReports
from knowledge.relay_rows import Participant, participant_of
from knowledge.sqlite_thread import time_binder, write_on_thread
from knowledge.upsert import insert_ignoring_conflict
from knowledge.vocabulary import LinkStatus, OutboxStatus

LEASE = timedelta(seconds=60)


def worker_name() -> str:
    """host:pid:nonce. The pid lets a restarted process on the same host free the claims
    of one that was killed, instead of waiting for their leases to run out."""
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class Claimed:
    id: int
    key: str
    operation: str
    payload: dict[str, Any]
    attempts: int  # including this one
    failures: int
    maybe_posted: bool  # an earlier claim ended without an outcome: it may have posted
    link_id: int | None
    relay_message_id: int | None
    is_root: bool
    target: Participant
    copy_id: str | None  # the copy this edit/delete acts on, if it was delivered
    link_status: LinkStatus | None  # of the carrying link, as of the claim
    link_paused: bool
    queued_at: datetime | None = None  # when the change was queued (delivery latency)


class Outbox(OutboxReports):
    """Claiming due items and recording their outcomes; the reports come with it."""

    def __init__(self, database: Database, worker: str | None = None) -> None:
        super().__init__(database)
        self.worker = worker or worker_name()

    async def claim(self, now: datetime, limit: int = 16) -> list[Claimed]:
        earlier = aliased(OutboxItem)
        blocked = exists().where(
            earlier.participant_id == OutboxItem.participant_id,
            earlier.id < OutboxItem.id,
            earlier.operation != "notice",
            earlier.status.in_([OutboxStatus.PENDING, OutboxStatus.PARKED]),
        )
        free = or_(OutboxItem.claimed_until.is_(None), OutboxItem.claimed_until < now)
        paused = (
            exists()
            .where(LinkSide.link_id == OutboxItem.link_id, LinkSide.paused.is_(True))
            .label("paused")
        )
        due = (
            select(OutboxItem.id)
            .where(
                OutboxItem.status == OutboxStatus.PENDING,
                OutboxItem.next_attempt_at <= now,
                free,
                or_(OutboxItem.operation == "notice", ~blocked),
            )
            .order_by(OutboxItem.id)
            .limit(limit)
        )
        async with self._db.sessions.begin() as session:
            if self._db.dialect == "postgresql":
                due = due.with_for_update(skip_locked=True, of=OutboxItem)
            ids = list((await session.scalars(due)).all())
            if not ids:
                return []
            taken = (
                await session.scalars(
                    update(OutboxItem)
                    .where(OutboxItem.id.in_(ids), free)
                    .values(
                        claimed_by=self.worker,
                        claimed_until=now + LEASE,
                        attempts=OutboxItem.attempts + 1,
                    )
                    .returning(OutboxItem.id)
                )
            ).all()
            rows = (
                await session.execute(
                    select(
                        OutboxItem,
                        RelayParticipant,
                        RelayMessage.is_root,
                        RelayCopy.copy_id,
                        Link.status,
                        paused,
                    )
                    .join(RelayParticipant, RelayParticipant.id == OutboxItem.participant_id)
                    .outerjoin(Link, Link.id == OutboxItem.link_id)
                    .outerjoin(RelayMessage, RelayMessage.id == OutboxItem.relay_message_id)
                    .outerjoin(
                        RelayCopy,
                        (RelayCopy.relay_message_id == OutboxItem.relay_message_id)
                        & (RelayCopy.participant_id == OutboxItem.participant_id),
                    )
                    .where(OutboxItem.id.in_(taken))
                    .order_by(OutboxItem.id)
                )
            ).all()
            return [
                Claimed(
                    item.id,
                    item.key,
                    item.operation,
                    dict(item.payload),
                    item.attempts,
                    item.failures,
                    item.attempts - 1 > item.failures,
                    item.link_id,
                    item.relay_message_id,
                    bool(is_root),
                    participant_of(target),
                    copy_id,
                    None if link_status is None else LinkStatus(link_status),
                    bool(link_paused),
                    item.created_at,
                )
                for item, target, is_root, copy_id, link_status, link_paused in rows
            ]

    async def delivered(self, item: Claimed, copy_id: str | None, now: datetime) -> None:
        """Done: remember the copy (and the thread's anchor in that channel, for a root)."""
        if self._db.dialect == "sqlite":  # after every delivery: one transaction, one hop
            copied = copy_id is not None and item.relay_message_id is not None
            copy = (item.relay_message_id, item.target.id, copy_id) if copied else None
            if item.operation != "post":
                copy = None
            stamp = time_binder(self._db)(now)
            await write_on_thread(self._db, _mark_delivered, item.id, stamp, copy, item.is_root)
            return
        async with self._db.sessions.begin() as session:
            await session.execute(
                update(OutboxItem)
                .where(OutboxItem.id == item.id)
                .values(
                    status=OutboxStatus.DELIVERED,
                    delivered_at=now,
                    claimed_until=None,
                    last_error=None,
                )
            )
            if copy_id is None or item.relay_message_id is None or item.operation != "post":
                return
            await session.execute(
                insert_ignoring_conflict(
                    session,
                    RelayCopy,
                    {
                        "relay_message_id": item.relay_message_id,
                        "participant_id": item.target.id,
                        "copy_id": copy_id,
                        "delivered_at": now,
                    },
                    ["relay_message_id", "participant_id"],
                )
            )
            if item.is_root:
                await session.execute(
                    update(RelayParticipant)
                    .where(
                        RelayParticipant.id == item.target.id, RelayParticipant.anchor_id.is_(None)
                    )
                    .values(anchor_id=copy_id)
                )

    async def retry_at(
        self, item: Claimed, at: datetime, error: str, *, failure: bool = True
    ) -> None:
        async with self._db.sessions.begin() as session:
            await session.execute(
                update(OutboxItem)
                .where(OutboxItem.id == item.id)
                .values(
                    next_attempt_at=at,
                    last_error=error[:500],
                    claimed_until=None,
                    failures=OutboxItem.failures + (1 if failure else 0),
                    # a refused or deferred attempt did not post: not "maybe posted"
                    attempts=OutboxItem.attempts - (0 if failure else 1),
                )
            )

    async def settle(self, item: Claimed, status: OutboxStatus, error: str) -> None:
        """Parked (waits for a person) or failed (can never succeed)."""
        async with self._db.sessions.begin() as session:
            await session.execute(
                update(OutboxItem)
                .where(OutboxItem.id == item.id)
                .values(
                    status=status,
                    last_error=error[:500],
                    claimed_until=None,
                    failures=OutboxItem.failures + 1,
                )
            )

    async def release(self, item_ids: list[int]) -> None:
        """Give up this worker's claims on items it will not deliver (stopping)."""
        async with self._db.sessions.begin() as session:
            await session.execute(
                update(OutboxItem)
                .where(
                    OutboxItem.id.in_(item_ids),
                    OutboxItem.claimed_by == self.worker,
                    OutboxItem.status == OutboxStatus.PENDING,
                )
                .values(claimed_until=None, attempts=OutboxItem.attempts - 1)
            )

    async def release_dead_claims(self) -> int:
        """Free claims held by processes on this host that no longer exist (killed)."""
        host = socket.gethostname()
        async with self._db.sessions.begin() as session:
            holders = (
                await session.scalars(
                    select(OutboxItem.claimed_by)
                    .where(
                        OutboxItem.status == OutboxStatus.PENDING,
                        OutboxItem.claimed_until.is_not(None),
                        OutboxItem.claimed_by.like(f"{host}:%"),
                    )
                    .distinct()
                )
            ).all()
            dead = [
                h
                for h in holders
                if h is not None and h != self.worker and not _pid_alive(int(h.split(":")[1]))
            ]
            if not dead:
                return 0
            freed = await session.execute(
                update(OutboxItem)
                .where(OutboxItem.claimed_by.in_(dead), OutboxItem.status == OutboxStatus.PENDING)
                .values(claimed_until=None)
            )
            return int(getattr(freed, "rowcount", 0) or 0)

    async def retry_parked(self, link_ids: list[int], now: datetime) -> int:
        async with self._db.sessions.begin() as session:
            result = await session.execute(
                update(OutboxItem)
                .where(
                    OutboxItem.link_id.in_(link_ids),
                    OutboxItem.status == OutboxStatus.PARKED,
                )
                .values(status=OutboxStatus.PENDING, next_attempt_at=now, failures=0)
            )
            await session.execute(
                update(OutboxItem)
                .where(OutboxItem.link_id.in_(link_ids), OutboxItem.status == OutboxStatus.PENDING)
                .values(next_attempt_at=now)
            )
            return int(getattr(result, "rowcount", 0) or 0)

    async def next_due(self) -> datetime | None:
        async with self._db.sessions() as session:
            due: datetime | None = await session.scalar(
                select(func.min(OutboxItem.next_attempt_at)).where(
                    OutboxItem.status == OutboxStatus.PENDING
                )
            )
            return due


def _mark_delivered(
    cursor: sqlite3.Cursor,
    item_id: int,
    now: str,
    copy: tuple[int | None, int, str | None] | None,
    is_root: bool,
) -> None:
    """On SQLite's thread, inside the caller's transaction: `Outbox.delivered`'s SQL."""
    cursor.execute(
        "UPDATE relay_outbox SET status = ?, delivered_at = ?, claimed_until = NULL,"
        " last_error = NULL WHERE id = ?",
        (OutboxStatus.DELIVERED.value, now, item_id),
    )
    if copy is None:
        return
    message_id, participant_id, copy_id = copy
    cursor.execute(
        "INSERT INTO relay_copies (relay_message_id, participant_id, copy_id, delivered_at)"
        " VALUES (?, ?, ?, ?) ON CONFLICT (relay_message_id, participant_id) DO NOTHING",
        (message_id, participant_id, copy_id, now),
    )
    if is_root:
        cursor.execute(
            "UPDATE relay_participants SET anchor_id = ? WHERE id = ? AND anchor_id IS NULL",
            (copy_id, participant_id),
        )
