"""`RelayQueue.record` and `open_thread` on SQLite: the same statements in plain SQL, in
one hop each.

Why: recording a relayed message (the message row, which target lanes are free, its
outbox rows, the thread's activity) was four ORM statements, each a trip to aiosqlite's
thread plus statement building and row loading: the largest cost left on the relay path
(issue #17, bench/README.md). Here it is one function on the connection's thread, inside
the caller's transaction. The statements, values and idempotency keys mirror
`relay_queue.record` and `_enqueue` exactly (the same columns, defaults, JSON text and
timestamps as the ORM writes), so either path may find what the other wrote; the same
holds for `open_thread` (a whole-channel link opens a thread for each top-level message).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from knowledge.relay_rows import (
    ChannelKey,
    Claim,
    Handed,
    NewTarget,
    Participant,
    RelayedMessage,
    Route,
)
from knowledge.vocabulary import OutboxStatus

_MESSAGE = (
    "INSERT INTO relay_messages (relay_thread_id, participant_id, message_id, is_root,"
    " author_name, digest, payload, deleted, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (participant_id, message_id) DO NOTHING RETURNING id"
)
_EXISTING = (
    "SELECT id, relay_thread_id, participant_id, message_id, is_root, digest, deleted, payload"
    " FROM relay_messages WHERE participant_id = ? AND message_id = ?"
)
_LANES = (  # each target's anchor, and whether an earlier copy still waits in its lane
    "SELECT p.id, p.anchor_id, EXISTS (SELECT * FROM relay_outbox AS o"
    " WHERE o.participant_id = p.id AND o.status IN (?, ?) AND o.operation != 'notice')"
    " FROM relay_participants AS p WHERE p.id IN ({})"
)
_OUTBOX_COLUMNS = (
    'INSERT INTO relay_outbox ("key", relay_thread_id, participant_id, relay_message_id,'
    " link_id, operation, payload, status, attempts, failures, next_attempt_at, claimed_by,"
    " claimed_until, created_at) VALUES "
)
_OUTBOX_ROW = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_OUTBOX_END = ' ON CONFLICT ("key") DO NOTHING RETURNING id, participant_id, claimed_by'
_TOUCH = "UPDATE relay_threads SET last_activity_at = ? WHERE relay_threads.id = ?"


@dataclass(frozen=True)
class ToRecord:
    """Everything `record` writes, with timestamps already in the ORM's stored form."""

    participant: Participant
    message_id: str
    is_root: bool
    author_name: str
    digest: str
    routes: Sequence[Route]
    payload: dict[str, Any]
    now: datetime
    claim: Claim | None
    stamp: Callable[[Any], Any]  # `sqlite_thread.time_binder`


def record_on_thread(
    connection: sqlite3.Connection, what: ToRecord
) -> tuple[RelayedMessage, tuple[Handed, ...]]:
    """The message (once per participant and message id) and its copies queued."""
    participant, now = what.participant, what.stamp(what.now)
    payload_text = json.dumps(what.payload)  # as SQLAlchemy's JSON type serialises
    new = connection.execute(
        _MESSAGE,
        (
            participant.relay_thread_id,
            participant.id,
            what.message_id,
            what.is_root,
            what.author_name[:200],
            what.digest,
            payload_text,
            False,
            now,
        ),
    ).fetchall()
    if new:  # the usual case: no read-back
        message = RelayedMessage(
            new[0][0],
            participant.relay_thread_id,
            participant.id,
            what.message_id,
            what.is_root,
            what.digest,
            False,
            dict(what.payload),
        )
        claim = what.claim
    else:  # redelivered: the message (and its queued copies) exist already
        row = connection.execute(_EXISTING, (participant.id, what.message_id)).fetchone()
        assert row is not None
        stored = json.loads(row[7]) if row[7] is not None else None
        message = RelayedMessage(
            row[0], row[1], row[2], row[3], bool(row[4]), row[5], bool(row[6]), dict(stored or {})
        )
        claim = None
    handed = _enqueue(connection, message, what, f"post:{message.id}", now, claim)
    return message, handed


def _enqueue(
    connection: sqlite3.Connection,
    message: RelayedMessage,
    what: ToRecord,
    key: str,
    now: Any,
    claim: Claim | None,
) -> tuple[Handed, ...]:
    handed: tuple[Handed, ...] = ()
    routes = what.routes
    if routes:
        free: dict[int, str | None] = {}
        if claim is not None:  # read fresh: a root copy may have been delivered meanwhile
            targets = [route.participant_id for route in routes]
            lanes = connection.execute(
                _LANES.format(", ".join("?" * len(targets))),
                (OutboxStatus.PENDING.value, OutboxStatus.PARKED.value, *targets),
            ).fetchall()
            free = {
                target: anchor
                for target, anchor, busy in lanes
                if not busy and (message.is_root or anchor is not None)
            }
        payload_text = json.dumps(what.payload)
        until = None if claim is None else what.stamp(claim.until)
        values: list[Any] = []
        for route in routes:
            claimed = claim is not None and route.participant_id in free
            values += (
                f"{key}:{route.participant_id}",
                message.relay_thread_id,
                route.participant_id,
                message.id,
                route.link_id,
                "post",
                payload_text,
                OutboxStatus.PENDING.value,
                1 if claimed else 0,
                0,
                now,
                claim.worker if claimed and claim is not None else None,
                until if claimed else None,
                now,
            )
        statement = _OUTBOX_COLUMNS + ", ".join([_OUTBOX_ROW] * len(routes)) + _OUTBOX_END
        inserted = connection.execute(statement, values).fetchall()
        if claim is not None:
            by_target = {route.participant_id: route for route in routes}
            handed = tuple(
                Handed(item_id, f"{key}:{target}", by_target[target], free[target])
                for item_id, target, claimed_by in inserted
                if claimed_by == claim.worker
            )
    connection.execute(_TOUCH, (now, message.relay_thread_id))
    return handed


_PARTICIPANT_COLUMNS = (
    "id, relay_thread_id, community_id, link_id, platform, space, channel, anchor_id"
)


@dataclass(frozen=True)
class ToOpen:
    """What `open_thread` writes: the thread rooted at `root_id` in `channel`, targets."""

    origin_community_id: int
    channel: ChannelKey
    root_id: str
    targets: Sequence[NewTarget]
    now: Any  # in the ORM's stored form (`sqlite_thread.time_binder`)


def open_thread_on_thread(
    connection: sqlite3.Connection, what: ToOpen
) -> tuple[Participant, list[Participant]]:
    """`RelayQueue._open_thread`, statement for statement."""
    platform, space, chan = what.channel
    found = connection.execute(
        "SELECT relay_thread_id FROM relay_participants WHERE platform = ? AND space = ?"
        " AND channel = ? AND anchor_id = ?",
        (platform, space, chan, what.root_id),
    ).fetchone()
    rows: list[tuple[Any, ...]] = []
    if found is None:
        thread_id = connection.execute(
            "INSERT INTO relay_threads (origin_community_id, created_at, last_activity_at)"
            " VALUES (?, ?, ?) RETURNING id",
            (what.origin_community_id, what.now, what.now),
        ).fetchone()[0]
        rows.append(
            (thread_id, what.origin_community_id, None, platform, space, chan, what.root_id)
        )
    else:
        thread_id = found[0]
    for target in what.targets:
        rows.append((thread_id, target.community_id, target.link_id, *target.channel, None))
    if rows:  # the origin and the targets in one statement
        connection.execute(
            "INSERT INTO relay_participants (relay_thread_id, community_id, link_id, platform,"
            " space, channel, anchor_id) VALUES "
            + ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * len(rows))
            + " ON CONFLICT (relay_thread_id, platform, space, channel) DO NOTHING",
            [value for row in rows for value in row],
        )
    everyone = [
        Participant(*row)
        for row in connection.execute(
            f"SELECT {_PARTICIPANT_COLUMNS} FROM relay_participants WHERE relay_thread_id = ?"
            " ORDER BY id",
            (thread_id,),
        )
    ]
    origin = next(p for p in everyone if p.key == what.channel and p.anchor_id == what.root_id)
    return origin, everyone
