"""Relayed threads: who takes part, what was written where, and where its copies went.

The origin ↔ copies map lives here, unbounded and durable, so an edit, a deletion or a
reply finds its copies after any restart. Queuing a relay is a row in the outbox written
in the same transaction as the message it relays, keyed so a redelivered event or a
catch-up pass can never queue it twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from knowledge.db import Database
from knowledge.models import (
    Community,
    OutboxItem,
    RelayCopy,
    RelayMessage,
    RelayParticipant,
    RelayThread,
    SyncCursor,
)
from knowledge.upsert import insert_ignoring_conflict
from knowledge.vocabulary import OutboxStatus

ChannelKey = tuple[str, str, str]  # platform, space, channel
CATCH_UP_KEY = "relay-catch-up"  # its row among the sync cursors, one per platform


@dataclass(frozen=True)
class Participant:
    id: int
    relay_thread_id: int
    community_id: int
    link_id: int | None  # None: the channel the thread started in
    platform: str
    space: str
    channel: str
    anchor_id: str | None

    @property
    def key(self) -> ChannelKey:
        return self.platform, self.space, self.channel


@dataclass(frozen=True)
class RelayedMessage:
    id: int
    relay_thread_id: int
    participant_id: int
    message_id: str
    is_root: bool
    digest: str
    deleted: bool
    payload: dict[str, Any]


@dataclass(frozen=True)
class Route:
    """Where one message goes: a participant, over a link."""

    participant_id: int
    link_id: int


@dataclass(frozen=True)
class Claim:
    """Write new copies already claimed by this worker until `until` (see `record`)."""

    worker: str
    until: datetime


@dataclass(frozen=True)
class Handed:
    """A new outbox row written claimed: delivered at once by the worker that holds it."""

    item_id: int
    key: str
    route: Route
    anchor_id: str | None  # the thread's anchor in the target channel, as of the write


@dataclass(frozen=True)
class Recorded:
    message: RelayedMessage
    handed: tuple[Handed, ...] = ()


@dataclass(frozen=True)
class NewTarget:
    community_id: int
    link_id: int
    channel: ChannelKey


def _participant(row: RelayParticipant) -> Participant:
    return Participant(
        row.id,
        row.relay_thread_id,
        row.community_id,
        row.link_id,
        row.platform,
        row.space,
        row.channel,
        row.anchor_id,
    )


def _message(row: RelayMessage) -> RelayedMessage:
    return RelayedMessage(
        row.id,
        row.relay_thread_id,
        row.participant_id,
        row.message_id,
        row.is_root,
        row.digest,
        row.deleted,
        dict(row.payload or {}),
    )


@dataclass(frozen=True)
class Located:
    is_copy: bool
    participant: Participant | None
    everyone: tuple[Participant, ...]


async def _participant_for(
    session: AsyncSession, channel: ChannelKey, thread_root: str | None, reply_to: str | None
) -> Participant | None:
    """By the thread root (the anchor), else by what the message replies to: a relayed
    message or a copy (platforms without threads, like the console, reply to anything)."""
    for candidate in (thread_root, reply_to):
        if candidate is None:
            continue
        row = await session.scalar(
            select(RelayParticipant).where(_in(channel), RelayParticipant.anchor_id == candidate)
        )
        if row is not None:
            return _participant(row)
    if reply_to is None:
        return None
    row = await session.scalar(
        select(RelayParticipant)
        .join(RelayMessage, RelayMessage.participant_id == RelayParticipant.id)
        .where(_in(channel), RelayMessage.message_id == reply_to)
    )
    if row is None:
        row = await session.scalar(
            select(RelayParticipant)
            .join(RelayCopy, RelayCopy.participant_id == RelayParticipant.id)
            .where(_in(channel), RelayCopy.copy_id == reply_to)
        )
    return None if row is None else _participant(row)


def _in(channel: ChannelKey) -> Any:
    platform, space, chan = channel
    return and_(
        RelayParticipant.platform == platform,
        RelayParticipant.space == space,
        RelayParticipant.channel == chan,
    )


class RelayStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    # finding ---------------------------------------------------------------------------

    def reading(self) -> AsyncSession:
        """A session for several reads in one transaction (`locate`, then links)."""
        return self._db.sessions()

    async def locate(
        self,
        channel: ChannelKey,
        message_id: str,
        thread_root: str | None,
        reply_to: str | None,
        *,
        session: AsyncSession | None = None,
    ) -> Located:
        """Everything a new message needs to know, in one read: is it a copy Hearth made,
        which relayed thread (if any) it belongs to, and that thread's participants."""
        if session is None:
            async with self._db.sessions() as own:
                return await self._locate(own, channel, message_id, thread_root, reply_to)
        return await self._locate(session, channel, message_id, thread_root, reply_to)

    async def _locate(
        self,
        session: AsyncSession,
        channel: ChannelKey,
        message_id: str,
        thread_root: str | None,
        reply_to: str | None,
    ) -> Located:
        copy = await session.scalar(
            select(RelayCopy.id)
            .join(RelayParticipant, RelayParticipant.id == RelayCopy.participant_id)
            .where(_in(channel), RelayCopy.copy_id == message_id)
            .limit(1)
        )
        if copy is not None:
            return Located(True, None, ())
        if thread_root is not None:  # the usual case: the thread and everyone in one query
            threads = select(RelayParticipant.relay_thread_id).where(
                _in(channel), RelayParticipant.anchor_id == thread_root
            )
            rows = [
                _participant(r)
                for r in await session.scalars(
                    select(RelayParticipant)
                    .where(RelayParticipant.relay_thread_id.in_(threads))
                    .order_by(RelayParticipant.id)
                )
            ]
            here = [p for p in rows if p.key == channel and p.anchor_id == thread_root]
            if here:
                thread_id = here[0].relay_thread_id
                return Located(
                    False, here[0], tuple(p for p in rows if p.relay_thread_id == thread_id)
                )
        by_reply = await _participant_for(session, channel, None, reply_to)
        if by_reply is None:
            return Located(False, None, ())
        everyone = await session.scalars(
            select(RelayParticipant)
            .where(RelayParticipant.relay_thread_id == by_reply.relay_thread_id)
            .order_by(RelayParticipant.id)
        )
        return Located(False, by_reply, tuple(_participant(r) for r in everyone))

    async def community_name(self, community_id: int, session: AsyncSession) -> str | None:
        """A community's name, read in the caller's transaction."""
        name: str | None = await session.scalar(
            select(Community.name).where(Community.id == community_id)
        )
        return name

    async def participants(self, relay_thread_id: int) -> list[Participant]:
        async with self._db.sessions() as session:
            rows = await session.scalars(
                select(RelayParticipant)
                .where(RelayParticipant.relay_thread_id == relay_thread_id)
                .order_by(RelayParticipant.id)
            )
            return [_participant(r) for r in rows]

    async def message(self, channel: ChannelKey, message_id: str) -> RelayedMessage | None:
        async with self._db.sessions() as session:
            row = await session.scalar(
                select(RelayMessage)
                .join(RelayParticipant, RelayParticipant.id == RelayMessage.participant_id)
                .where(_in(channel), RelayMessage.message_id == message_id)
            )
            return None if row is None else _message(row)

    async def messages_of(self, participant_id: int) -> list[RelayedMessage]:
        async with self._db.sessions() as session:
            rows = await session.scalars(
                select(RelayMessage)
                .where(RelayMessage.participant_id == participant_id)
                .order_by(RelayMessage.id)
            )
            return [_message(r) for r in rows]

    async def source_participant(self, relay_message_id: int) -> int | None:
        async with self._db.sessions() as session:
            found: int | None = await session.scalar(
                select(RelayMessage.participant_id).where(RelayMessage.id == relay_message_id)
            )
            return found

    async def copy_ids(self, participant_id: int) -> set[str]:
        async with self._db.sessions() as session:
            rows = await session.scalars(
                select(RelayCopy.copy_id).where(RelayCopy.participant_id == participant_id)
            )
            return set(rows)

    async def copy_routes(self, relay_message_id: int) -> list[Route]:
        """Everywhere this message was (or is queued to be) copied to."""
        async with self._db.sessions() as session:
            rows = await session.execute(
                select(OutboxItem.participant_id, OutboxItem.link_id).where(
                    OutboxItem.relay_message_id == relay_message_id,
                    OutboxItem.operation == "post",
                    OutboxItem.status.in_(
                        [OutboxStatus.PENDING, OutboxStatus.DELIVERED, OutboxStatus.PARKED]
                    ),
                )
            )
            return [Route(p, link) for p, link in rows if link is not None]

    async def recent_participants(self, platform: str, since: datetime) -> list[Participant]:
        """Channels on `platform` in threads active since `since`: what catch-up reads,
        most recently active first (where a missed reply is likeliest)."""
        async with self._db.sessions() as session:
            rows = await session.scalars(
                select(RelayParticipant)
                .join(RelayThread, RelayThread.id == RelayParticipant.relay_thread_id)
                .where(
                    RelayParticipant.platform == platform,
                    RelayParticipant.anchor_id.is_not(None),
                    RelayThread.last_activity_at >= since,
                )
                .order_by(RelayThread.last_activity_at.desc(), RelayParticipant.id.desc())
            )
            return [_participant(r) for r in rows]

    # catch-up position -----------------------------------------------------------------

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

    # writing ---------------------------------------------------------------------------

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
                _in(channel), RelayParticipant.anchor_id == root_id
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
            _participant(r)
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
        if session is None:
            async with self._db.sessions.begin() as own:
                return await self.record(
                    participant, message_id, is_root=is_root, author_name=author_name,
                    digest=digest, routes=routes, payload=payload, now=now, claim=claim,
                    session=own,
                )  # fmt: skip
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
            relayed = _message(row)
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
