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

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from knowledge.db import Database
from knowledge.models import (
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

    async def locate(
        self, channel: ChannelKey, message_id: str, thread_root: str | None, reply_to: str | None
    ) -> Located:
        """Everything a new message needs to know, in one read: is it a copy Hearth made,
        which relayed thread (if any) it belongs to, and that thread's participants."""
        async with self._db.sessions() as session:
            copy = await session.scalar(
                select(RelayCopy.id)
                .join(RelayParticipant, RelayParticipant.id == RelayCopy.participant_id)
                .where(_in(channel), RelayCopy.copy_id == message_id)
                .limit(1)
            )
            if copy is not None:
                return Located(True, None, ())
            found = await _participant_for(session, channel, thread_root, reply_to)
            if found is None:
                return Located(False, None, ())
            rows = await session.scalars(
                select(RelayParticipant)
                .where(RelayParticipant.relay_thread_id == found.relay_thread_id)
                .order_by(RelayParticipant.id)
            )
            return Located(False, found, tuple(_participant(r) for r in rows))

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

    async def open_thread(
        self,
        origin_community_id: int,
        channel: ChannelKey,
        root_id: str,
        targets: Sequence[NewTarget],
        now: datetime,
    ) -> tuple[Participant, list[Participant]]:
        """The relayed thread rooted at `root_id` (made on first use) with these targets
        added; returns its origin participant and every participant it now has."""
        platform, space, chan = channel
        async with self._db.sessions.begin() as session:
            origin = await session.scalar(
                select(RelayParticipant).where(_in(channel), RelayParticipant.anchor_id == root_id)
            )
            if origin is None:
                thread = RelayThread(
                    origin_community_id=origin_community_id, created_at=now, last_activity_at=now
                )
                session.add(thread)
                await session.flush()
                origin = RelayParticipant(
                    relay_thread_id=thread.id,
                    community_id=origin_community_id,
                    platform=platform,
                    space=space,
                    channel=chan,
                    anchor_id=root_id,
                )
                session.add(origin)
                await session.flush()
            for target in targets:
                t_platform, t_space, t_channel = target.channel
                await session.execute(
                    insert_ignoring_conflict(
                        session,
                        RelayParticipant,
                        {
                            "relay_thread_id": origin.relay_thread_id,
                            "community_id": target.community_id,
                            "link_id": target.link_id,
                            "platform": t_platform,
                            "space": t_space,
                            "channel": t_channel,
                        },
                        ["relay_thread_id", "platform", "space", "channel"],
                    )
                )
            rows = await session.scalars(
                select(RelayParticipant)
                .where(RelayParticipant.relay_thread_id == origin.relay_thread_id)
                .order_by(RelayParticipant.id)
            )
            return _participant(origin), [_participant(r) for r in rows]

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
    ) -> RelayedMessage:
        """Keep a message of a relayed thread and queue its copies, in one transaction."""
        async with self._db.sessions.begin() as session:
            await session.execute(
                insert_ignoring_conflict(
                    session,
                    RelayMessage,
                    {
                        "relay_thread_id": participant.relay_thread_id,
                        "participant_id": participant.id,
                        "message_id": message_id,
                        "is_root": is_root,
                        "author_name": author_name[:200],
                        "digest": digest,
                        "payload": payload,
                        "created_at": now,
                    },
                    ["participant_id", "message_id"],
                )
            )
            row = await session.scalar(
                select(RelayMessage).where(
                    RelayMessage.participant_id == participant.id,
                    RelayMessage.message_id == message_id,
                )
            )
            assert row is not None
            await self._enqueue(session, row, "post", routes, payload, f"post:{row.id}", now)
            return _message(row)

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
        message: RelayMessage,
        operation: str,
        routes: Sequence[Route],
        payload: dict[str, Any],
        key: str,
        now: datetime,
    ) -> None:
        if routes:
            await session.execute(
                insert_ignoring_conflict(
                    session,
                    OutboxItem,
                    [
                        {
                            "key": f"{key}:{route.participant_id}",
                            "relay_thread_id": message.relay_thread_id,
                            "participant_id": route.participant_id,
                            "relay_message_id": message.id,
                            "link_id": route.link_id,
                            "operation": operation,
                            "payload": payload,
                            "next_attempt_at": now,
                            "created_at": now,
                        }
                        for route in routes
                    ],
                    ["key"],
                )
            )
        await session.execute(
            update(RelayThread)
            .where(RelayThread.id == message.relay_thread_id)
            .values(last_activity_at=now)
        )

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
