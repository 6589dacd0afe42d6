"""Finding relayed threads: which thread a message belongs to, and what was copied where.

Every read the live path and catch-up make before deciding; `locate` answers a new
message's questions (a copy? which thread? who else is in it?) in one read.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from knowledge.models import (
    Community,
    OutboxItem,
    RelayCopy,
    RelayMessage,
    RelayParticipant,
    RelayThread,
)
from knowledge.relay_locate import locate_on_thread
from knowledge.relay_rows import (
    ChannelKey,
    Located,
    Participant,
    RelayedMessage,
    RelayTables,
    Route,
    in_channel,
    message_of,
    participant_of,
)
from knowledge.sqlite_thread import in_session_on_thread
from knowledge.vocabulary import OutboxStatus


async def _participant_for(
    session: AsyncSession, channel: ChannelKey, thread_root: str | None, reply_to: str | None
) -> Participant | None:
    """By the thread root (the anchor), else by what the message replies to: a relayed
    message or a copy (platforms without threads, like the console, reply to anything)."""
    for candidate in (thread_root, reply_to):
        if candidate is None:
            continue
        row = await session.scalar(
            select(RelayParticipant).where(
                in_channel(channel), RelayParticipant.anchor_id == candidate
            )
        )
        if row is not None:
            return participant_of(row)
    if reply_to is None:
        return None
    row = await session.scalar(
        select(RelayParticipant)
        .join(RelayMessage, RelayMessage.participant_id == RelayParticipant.id)
        .where(in_channel(channel), RelayMessage.message_id == reply_to)
    )
    if row is None:
        row = await session.scalar(
            select(RelayParticipant)
            .join(RelayCopy, RelayCopy.participant_id == RelayParticipant.id)
            .where(in_channel(channel), RelayCopy.copy_id == reply_to)
        )
    return None if row is None else participant_of(row)


class RelayLookup(RelayTables):
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
        if self._db.dialect == "sqlite":  # the live path: the same reads, in one hop
            question = (channel, message_id, thread_root, reply_to)
            return await in_session_on_thread(session, locate_on_thread, question)
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
            .where(in_channel(channel), RelayCopy.copy_id == message_id)
            .limit(1)
        )
        if copy is not None:
            return Located(True, None, ())
        if thread_root is not None:  # the usual case: the thread and everyone in one query
            threads = select(RelayParticipant.relay_thread_id).where(
                in_channel(channel), RelayParticipant.anchor_id == thread_root
            )
            rows = [
                participant_of(r)
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
        return Located(False, by_reply, tuple(participant_of(r) for r in everyone))

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
            return [participant_of(r) for r in rows]

    async def message(self, channel: ChannelKey, message_id: str) -> RelayedMessage | None:
        async with self._db.sessions() as session:
            row = await session.scalar(
                select(RelayMessage)
                .join(RelayParticipant, RelayParticipant.id == RelayMessage.participant_id)
                .where(in_channel(channel), RelayMessage.message_id == message_id)
            )
            return None if row is None else message_of(row)

    async def messages_of(self, participant_id: int) -> list[RelayedMessage]:
        async with self._db.sessions() as session:
            rows = await session.scalars(
                select(RelayMessage)
                .where(RelayMessage.participant_id == participant_id)
                .order_by(RelayMessage.id)
            )
            return [message_of(r) for r in rows]

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
            return [participant_of(r) for r in rows]
