"""Writing relayed threads: opening one, recording its messages, queuing their copies.

Queuing a relay is a row in the outbox written in the same transaction as the message it
relays, keyed so a redelivered event or a catch-up pass can never queue it twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import exists, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from knowledge.models import OutboxItem, RelayMessage, RelayParticipant, RelayThread
from knowledge.relay_record import ToOpen, ToRecord, open_thread_on_thread, record_on_thread
from knowledge.relay_rows import (
    ChannelKey,
    Claim,
    Handed,
    NewTarget,
    Participant,
    Recorded,
    RelayedMessage,
    RelayTables,
    Route,
    in_channel,
    message_of,
    participant_of,
)
from knowledge.sqlite_thread import in_session_on_thread, time_binder, write_on_thread
from knowledge.upsert import insert_ignoring_conflict
from knowledge.vocabulary import OutboxStatus


class RelayQueue(RelayTables):
    def writing(self) -> Any:
        """A write transaction for several steps (`open_thread`, then `record`)."""
        return self._db.sessions.begin()

    async def open_thread(
        self,
        origin_community_id: int,
        channel: ChannelKey,
        root_id: str,
        targets: Sequence[NewTarget],
        now: datetime,
        *,
        session: AsyncSession | None = None,
    ) -> tuple[Participant, list[Participant]]:
        """The relayed thread rooted at `root_id` (made on first use) with these targets
        added; returns its origin participant and every participant it now has. In
        `session` when given (the caller's write transaction)."""
        if self._db.dialect == "sqlite":  # the same statements in one hop
            what = ToOpen(
                origin_community_id, channel, root_id, targets, time_binder(self._db)(now)
            )
            if session is None:
                return await write_on_thread(self._db, _open_in, what)
            return await in_session_on_thread(session, open_thread_on_thread, what)
        if session is None:
            async with self._db.sessions.begin() as own:
                return await self._open_thread(
                    own, origin_community_id, channel, root_id, targets, now
                )
        return await self._open_thread(session, origin_community_id, channel, root_id, targets, now)

    async def _open_thread(
        self,
        session: AsyncSession,
        origin_community_id: int,
        channel: ChannelKey,
        root_id: str,
        targets: Sequence[NewTarget],
        now: datetime,
    ) -> tuple[Participant, list[Participant]]:
        platform, space, chan = channel
        thread_id = await session.scalar(
            select(RelayParticipant.relay_thread_id).where(
                in_channel(channel), RelayParticipant.anchor_id == root_id
            )
        )
        rows: list[dict[str, Any]] = []
        if thread_id is None:
            thread_id = await session.scalar(
                insert(RelayThread)
                .values(
                    origin_community_id=origin_community_id, created_at=now, last_activity_at=now
                )
                .returning(RelayThread.id)
            )
            rows.append(
                {
                    "relay_thread_id": thread_id,
                    "community_id": origin_community_id,
                    "link_id": None,
                    "platform": platform,
                    "space": space,
                    "channel": chan,
                    "anchor_id": root_id,
                }
            )
        for target in targets:
            t_platform, t_space, t_channel = target.channel
            rows.append(
                {
                    "relay_thread_id": thread_id,
                    "community_id": target.community_id,
                    "link_id": target.link_id,
                    "platform": t_platform,
                    "space": t_space,
                    "channel": t_channel,
                    "anchor_id": None,
                }
            )
        if rows:  # the origin and the targets in one statement
            await session.execute(
                insert_ignoring_conflict(
                    session,
                    RelayParticipant,
                    rows,
                    ["relay_thread_id", "platform", "space", "channel"],
                )
            )
        everyone = [
            participant_of(r)
            for r in await session.scalars(
                select(RelayParticipant)
                .where(RelayParticipant.relay_thread_id == thread_id)
                .order_by(RelayParticipant.id)
            )
        ]
        origin = next(p for p in everyone if p.key == channel and p.anchor_id == root_id)
        return origin, everyone

    async def record(
        self,
        participant: Participant,
        message_id: str,
        *,
        is_root: bool,
        author_name: str,
        digest: str,
        routes: Sequence[Route],
        payload: dict[str, Any],
        now: datetime,
        claim: Claim | None = None,
        session: AsyncSession | None = None,
    ) -> Recorded:
        """Keep a message of a relayed thread and queue its copies, in one transaction.

        With `claim`, each new copy whose lane is free (nothing earlier pending or parked
        for that channel) is written already claimed by that worker, and returned in
        `handed` so it can be delivered at once without a claim round; the row stays the
        truth, so a crash before delivery frees it like any other dead claim. In
        `session` when given (the caller's write transaction)."""
        sqlite = self._db.dialect == "sqlite"
        what = ToRecord(
            participant, message_id, is_root, author_name, digest, routes, payload, now, claim,
            time_binder(self._db) if sqlite else _as_is,
        )  # fmt: skip
        if sqlite:  # the same statements in one hop
            if session is None:
                message, handed = await write_on_thread(self._db, _record_in, what)
            else:
                message, handed = await in_session_on_thread(session, record_on_thread, what)
            return Recorded(message, handed)
        if session is None:
            async with self._db.sessions.begin() as own:
                return await self._record(own, what)
        return await self._record(session, what)

    async def _record(self, session: AsyncSession, what: ToRecord) -> Recorded:
        """`record` through the ORM (PostgreSQL; `relay_record.py` mirrors it)."""
        participant, message_id, is_root = what.participant, what.message_id, what.is_root
        digest, routes, payload, now = what.digest, what.routes, what.payload, what.now
        claim, author_name = what.claim, what.author_name
        message_values = {
            "relay_thread_id": participant.relay_thread_id,
            "participant_id": participant.id,
            "message_id": message_id,
            "is_root": is_root,
            "author_name": author_name[:200],
            "digest": digest,
            "payload": payload,
            "created_at": now,
        }
        new_id = await session.scalar(
            insert_ignoring_conflict(
                session, RelayMessage, message_values, ["participant_id", "message_id"]
            ).returning(RelayMessage.id)
        )
        if new_id is not None:  # the usual case: no read-back
            relayed = RelayedMessage(
                new_id,
                participant.relay_thread_id,
                participant.id,
                message_id,
                is_root,
                digest,
                False,
                dict(payload),
            )
        else:  # redelivered: the message (and its queued copies) exist already
            row = await session.scalar(
                select(RelayMessage).where(
                    RelayMessage.participant_id == participant.id,
                    RelayMessage.message_id == message_id,
                )
            )
            assert row is not None
            relayed = message_of(row)
        handed = await self._enqueue(
            session, relayed, "post", routes, payload, f"post:{relayed.id}", now,
            claim if new_id is not None else None,
        )  # fmt: skip
        return Recorded(relayed, handed)

    async def change(
        self,
        message: RelayedMessage,
        operation: str,
        routes: Sequence[Route],
        payload: dict[str, Any],
        *,
        digest: str | None,
        now: datetime,
    ) -> None:
        """An edit (keyed by the new text's digest) or a deletion, queued to every copy."""
        async with self._db.sessions.begin() as session:
            row = await session.get_one(RelayMessage, message.id)
            if operation == "edit":
                assert digest is not None
                if row.deleted or row.digest == digest:
                    return
                row.digest = digest
                row.payload = payload
                key = f"edit:{row.id}:{digest[:16]}"
            else:
                if row.deleted:
                    return
                row.deleted = True
                key = f"delete:{row.id}"
            await self._enqueue(session, row, operation, routes, payload, key, now)

    async def _enqueue(
        self,
        session: AsyncSession,
        message: RelayedMessage | RelayMessage,
        operation: str,
        routes: Sequence[Route],
        payload: dict[str, Any],
        key: str,
        now: datetime,
        claim: Claim | None = None,
    ) -> tuple[Handed, ...]:
        handed: list[Handed] = []
        if routes:
            free: dict[int, str | None] = {}  # lanes a new copy may be handed to: anchor
            if claim is not None:  # read fresh: a root copy may have been delivered meanwhile
                earlier = (
                    exists()
                    .where(
                        OutboxItem.participant_id == RelayParticipant.id,
                        OutboxItem.status.in_([OutboxStatus.PENDING, OutboxStatus.PARKED]),
                        OutboxItem.operation != "notice",
                    )
                    .label("busy")
                )
                lanes = await session.execute(
                    select(RelayParticipant.id, RelayParticipant.anchor_id, earlier).where(
                        RelayParticipant.id.in_([r.participant_id for r in routes])
                    )
                )
                free = {
                    target: anchor
                    for target, anchor, busy in lanes
                    if not busy and (message.is_root or anchor is not None)
                }
            rows = []
            for route in routes:
                row: dict[str, Any] = {
                    "key": f"{key}:{route.participant_id}",
                    "relay_thread_id": message.relay_thread_id,
                    "participant_id": route.participant_id,
                    "relay_message_id": message.id,
                    "link_id": route.link_id,
                    "operation": operation,
                    "payload": payload,
                    "next_attempt_at": now,
                    "created_at": now,
                    "claimed_by": None,
                    "claimed_until": None,
                    "attempts": 0,
                }
                if claim is not None and route.participant_id in free:
                    row.update(claimed_by=claim.worker, claimed_until=claim.until, attempts=1)
                rows.append(row)
            inserted = (
                await session.execute(
                    insert_ignoring_conflict(session, OutboxItem, rows, ["key"]).returning(
                        OutboxItem.id, OutboxItem.participant_id, OutboxItem.claimed_by
                    )
                )
            ).all()
            if claim is not None:
                by_target = {route.participant_id: route for route in routes}
                handed = [
                    Handed(item_id, f"{key}:{target}", by_target[target], free[target])
                    for item_id, target, claimed_by in inserted
                    if claimed_by == claim.worker
                ]
        await session.execute(
            update(RelayThread)
            .where(RelayThread.id == message.relay_thread_id)
            .values(last_activity_at=now)
        )
        return tuple(handed)

    async def notice(self, participant: Participant, key: str, text: str, now: datetime) -> None:
        """A message from Hearth itself into a relayed thread (a failure report), once."""
        async with self._db.sessions.begin() as session:
            await session.execute(
                insert_ignoring_conflict(
                    session,
                    OutboxItem,
                    {
                        "key": key,
                        "relay_thread_id": participant.relay_thread_id,
                        "participant_id": participant.id,
                        "operation": "notice",
                        "payload": {"text": text},
                        "next_attempt_at": now,
                        "created_at": now,
                    },
                    ["key"],
                )
            )


def _record_in(cursor: Any, what: ToRecord) -> tuple[RelayedMessage, tuple[Handed, ...]]:
    return record_on_thread(cursor.connection, what)


def _as_is(value: Any) -> Any:
    return value


def _open_in(cursor: Any, what: ToOpen) -> tuple[Participant, list[Participant]]:
    return open_thread_on_thread(cursor.connection, what)
