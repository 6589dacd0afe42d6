"""Relayed threads: who takes part, what was written where, and where its copies went.

The origin ↔ copies map lives here, unbounded and durable, so an edit, a deletion or a
reply finds its copies after any restart. Queuing a relay is a row in the outbox written
in the same transaction as the message it relays, keyed so a redelivered event or a
catch-up pass can never queue it twice.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from knowledge.models import Link, LinkSide, SyncCursor
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
from knowledge.vocabulary import LinkStatus

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
CHANNEL_KEY = "relay-channel"  # + ":<space>:<channel>": the newest top-level message read


class RelayStore(RelayLookup, RelayQueue):
    """The lookup, the queue, and where catch-up left each platform's history."""

    async def catch_up_position(self, platform: str) -> str | None:
        """Where the last complete catch-up on `platform` left its history (`ChangeFeed`)."""
        return await self._cursor(platform, CATCH_UP_KEY)

    async def save_catch_up_position(self, platform: str, position: str, now: datetime) -> None:
        await self._save_cursor(platform, CATCH_UP_KEY, position, now)

    async def channel_position(self, channel: ChannelKey) -> str | None:
        """The newest top-level message a catch-up pass read in this channel."""
        platform, space, chan = channel
        return await self._cursor(platform, f"{CHANNEL_KEY}:{space}:{chan}")

    async def save_channel_position(
        self, channel: ChannelKey, position: str, now: datetime
    ) -> None:
        platform, space, chan = channel
        await self._save_cursor(platform, f"{CHANNEL_KEY}:{space}:{chan}", position, now)

    async def whole_channels(self, platform: str) -> dict[ChannelKey, datetime]:
        """Channels on `platform` that an active link relays whole, each with when its
        link was accepted (nothing posted before that may be relayed)."""
        async with self._db.sessions() as session:
            rows = await session.execute(
                select(LinkSide.space, LinkSide.channel, Link.accepted_at, Link.created_at)
                .join(Link, Link.id == LinkSide.link_id)
                .where(
                    Link.status == LinkStatus.ACTIVE,
                    Link.whole_channel.is_(True),
                    LinkSide.platform == platform,
                )
            )
            found: dict[ChannelKey, datetime] = {}
            for space, chan, accepted, created in rows:
                since = accepted or created
                key = (platform, space, chan)
                found[key] = min(found.get(key, since), since)
            return found

    async def _cursor(self, platform: str, key: str) -> str | None:
        async with self._db.sessions() as session:
            return await session.scalar(
                select(SyncCursor.token).where(
                    SyncCursor.platform == platform, SyncCursor.key == key
                )
            )

    async def _save_cursor(self, platform: str, key: str, token: str, now: datetime) -> None:
        async with self._db.sessions.begin() as session:
            inserted = await session.scalar(
                insert_ignoring_conflict(
                    session,
                    SyncCursor,
                    {"platform": platform, "key": key, "token": token, "updated_at": now},
                    ["platform", "key"],
                ).returning(SyncCursor.key)
            )
            if inserted is None:
                await session.execute(
                    update(SyncCursor)
                    .where(SyncCursor.platform == platform, SyncCursor.key == key)
                    .values(token=token, updated_at=now)
                )
