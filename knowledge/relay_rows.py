"""The relay store's records: participants, relayed messages, routes and claims.

Frozen dataclasses built from rows, so the core never holds an ORM object, and the one
filter every relay query uses to name a channel. Shared by the lookup, the queue and the
outbox, which is why they live apart from any of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_

from knowledge.db import Database
from knowledge.models import RelayMessage, RelayParticipant

ChannelKey = tuple[str, str, str]  # platform, space, channel


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


def participant_of(row: RelayParticipant) -> Participant:
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


def message_of(row: RelayMessage) -> RelayedMessage:
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


def in_channel(channel: ChannelKey) -> Any:
    platform, space, chan = channel
    return and_(
        RelayParticipant.platform == platform,
        RelayParticipant.space == space,
        RelayParticipant.channel == chan,
    )


class RelayTables:
    """A store over the relay tables (the lookup and the queue share one database)."""

    def __init__(self, database: Database) -> None:
        self._db = database
