"""Group commit for captures on SQLite: one thread hop and one transaction per batch.

Through the async ORM a capture cost 8 statements, ~12 engine statements and 31 hops
between the event loop and aiosqlite's thread (each hop a queue put, a wake-up and a GIL
hand-off), 10 ms of mostly CPU for 0.45 ms of SQL. Here a capture is a few plain
statements run by one synchronous function on the connection's own thread, and captures
that arrive while a batch is being written are written together in the next one:

* nothing waits to be batched: a capture arriving at an idle writer is written at once;
* each capture runs inside its own SAVEPOINT, so one that fails (say, its community was
  deleted) is rolled back alone and its caller gets the error; the others commit;
* a capture is acknowledged (its `await` returns) only after the COMMIT that holds it.
  A crash before that commit loses only captures nobody was told about; the unique keys
  (source per channel, insight per community and source) keep a retry from doubling one.

The SQL is the same the ORM issued, with the same column values (timestamps are bound
through the models' own column types, so both paths store identical text).
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from knowledge.db import Database
from knowledge.sqlite_thread import on_connection_thread, time_binder
from knowledge.views import SourceMessage
from knowledge.vocabulary import Visibility

IMPORT_PLATFORM = "import"  # curators named in an imported file are members on it
MAX_BATCH = 256  # captures per transaction: bounds how long one batch holds the write lock

CAPTURED = (  # the insight already made from a source, if any (an import's lines)
    "SELECT i.id FROM sources s JOIN insights i ON i.source_id = s.id "
    "AND i.community_id = ? WHERE s.platform = ? AND s.space = ? AND s.channel = ? "
    "AND s.message_id = ?"
)
T = TypeVar("T")
# (connection, batch, bind_time) -> per capture what it wrote or why it was refused
BatchWriter = Callable[..., "list[Written | BaseException]"]
# (community id, platform, user id) -> (member id, display name, forgotten)
Members = dict[tuple[int, str, str], tuple[int, str, bool]]


@dataclass(frozen=True)
class CaptureRow:
    """One capture, validated, ready to write."""

    community_id: int
    source: SourceMessage
    curator_id: int | None  # None: `curator_name`'s member on the "import" platform
    body: str
    title: str | None
    tags: tuple[str, ...]
    now: datetime
    look_first: bool = False  # an import: an already captured source adds no member
    curator_name: str = ""


@dataclass(frozen=True)
class Written:
    """What a capture wrote (or found): enough to build its view without reading back."""

    insight_id: int
    created: bool
    author_id: int | None
    author_name: str
    visibility: Visibility | None  # None: nothing was written (an import's known source)


@dataclass
class Pending:
    row: CaptureRow
    future: asyncio.Future[Written] = field(repr=False)


class CaptureWriter:
    """Writes captures in batches, one transaction each, one writer at a time."""

    def __init__(self, database: Database, imports: BatchWriter | None = None) -> None:
        """`imports`: how to write a batch made only of imported lines (`look_first`),
        `capture_bulk.write_import_batch`; without it, as any batch."""
        self._db = database
        self._imports = imports
        self._queue: list[Pending] = []
        self._drainer: asyncio.Task[None] | None = None

    async def write(self, row: CaptureRow) -> Written:
        """Write one capture; returns once the transaction holding it has committed."""
        outcome = (await self.write_many([row]))[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    async def write_many(self, rows: Sequence[CaptureRow]) -> list[Written | BaseException]:
        """Write `rows` (each in its own savepoint) and return once all are committed:
        per row what it wrote, or the error that rolled back that row alone."""
        if not rows:
            return []
        loop = asyncio.get_running_loop()
        pending = [Pending(row, loop.create_future()) for row in rows]
        self._queue.extend(pending)
        if self._drainer is None or self._drainer.done():
            self._drainer = loop.create_task(self._drain())
        await asyncio.wait([p.future for p in pending])
        return [p.future.exception() or p.future.result() for p in pending]

    async def _drain(self) -> None:
        bind_time = time_binder(self._db)
        while self._queue:
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            try:
                writer = write_batch
                if self._imports is not None and all(p.row.look_first for p in batch):
                    writer = self._imports
                outcomes = await on_connection_thread(
                    self._db, functools.partial(writer, batch=batch, bind_time=bind_time)
                )
            except BaseException as exc:  # the whole transaction failed: nothing committed
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
                continue
            for item, outcome in zip(batch, outcomes, strict=True):
                if item.future.done():
                    continue
                if isinstance(outcome, BaseException):
                    item.future.set_exception(outcome)
                else:
                    item.future.set_result(outcome)


# --- on the connection's thread -----------------------------------------------------------


def write_batch(
    conn: sqlite3.Connection, batch: Sequence[Pending], bind_time: Callable[[Any], Any]
) -> list[Written | BaseException]:
    """One transaction writing every capture of `batch` (a floor in bench/ runs it too)."""
    cursor = conn.cursor()
    visibilities: dict[int, Visibility] = {}
    members: Members = {}  # who was looked up or added in this transaction
    outcomes: list[Written | BaseException] = []
    cursor.execute("BEGIN IMMEDIATE")
    try:
        for item in batch:
            cursor.execute("SAVEPOINT capture")
            try:
                outcomes.append(_write_one(cursor, item.row, bind_time, visibilities, members))
            except Exception as exc:  # this capture alone is refused; its caller gets why
                cursor.execute("ROLLBACK TO capture")
                members.clear()  # a member it added is gone again
                outcomes.append(exc)
            cursor.execute("RELEASE capture")
        cursor.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    finally:
        cursor.close()
    return outcomes


def _write_one(
    cursor: sqlite3.Cursor,
    row: CaptureRow,
    bind_time: Callable[[Any], Any],
    visibilities: dict[int, Visibility],
    members: Members,
) -> Written:
    src = row.source
    now = bind_time(row.now)
    key = (src.platform, src.space, src.channel, src.message_id)
    if row.look_first:
        found = cursor.execute(CAPTURED, (row.community_id, *key)).fetchone()
        if found is not None:
            return Written(found[0], False, None, "", None)
    author_id, author_name, curator_id, source_id, visibility = people_and_source(
        cursor, row, now, bind_time, visibilities, members
    )
    insight_id = _scalar(
        cursor,
        "INSERT INTO insights (community_id, source_id, title, body, author_member_id, "
        "curator_member_id, created_at, updated_at, visibility, shared_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (community_id, source_id) DO NOTHING RETURNING id",
        (
            row.community_id,
            source_id,
            row.title,
            row.body,
            author_id,
            curator_id,
            now,
            now,
            visibility,
            None if visibility == Visibility.COMMUNITY else now,
        ),
    )
    if insight_id is None:
        existing = _scalar(
            cursor,
            "SELECT id FROM insights WHERE community_id = ? AND source_id = ?",
            (row.community_id, source_id),
        )
        return Written(existing, False, author_id, author_name, visibility)
    names = sorted(set(row.tags))  # one lock order for every writer
    if names:
        marks = ", ".join("?" * len(names))
        cursor.execute(
            "INSERT INTO tags (community_id, name) VALUES "
            + ", ".join("(?, ?)" for _ in names)
            + " ON CONFLICT (community_id, name) DO NOTHING",
            [value for name in names for value in (row.community_id, name)],
        )
        cursor.execute(
            "INSERT INTO insight_tags (insight_id, tag_id) SELECT ?, id FROM tags "
            f"WHERE community_id = ? AND name IN ({marks})",
            (insight_id, row.community_id, *names),
        )
    return Written(insight_id, True, author_id, author_name, visibility)


def people_and_source(
    cursor: sqlite3.Cursor,
    row: CaptureRow,
    now: Any,
    bind_time: Callable[[Any], Any],
    visibilities: dict[int, Visibility],
    members: Members,
) -> tuple[int, str, int, int, Visibility]:
    """What a capture writes before its insight: its author and curator (found or
    added), its source row (found or added), and its community's default visibility.
    Returns (author id, author name, curator id, source id, visibility)."""
    src = row.source
    key = (src.platform, src.space, src.channel, src.message_id)
    author_id, author_name = _member(
        cursor, members, row.community_id, src.platform, src.author_user_id, src.author_name, now
    )
    curator_id = row.curator_id
    if curator_id is None:
        curator_id = _member(
            cursor,
            members,
            row.community_id,
            IMPORT_PLATFORM,
            row.curator_name,
            row.curator_name,
            now,
        )[0]
    source_id = _scalar(
        cursor,
        "INSERT INTO sources (community_id, platform, space, channel, message_id, thread_id, "
        "author_member_id, text, permalink, posted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (platform, space, channel, message_id) DO NOTHING RETURNING id",
        (
            row.community_id,
            *key,
            src.thread_id,
            author_id,
            src.text,
            src.permalink,
            bind_time(src.posted_at) if src.posted_at is not None else now,
        ),
    )
    if source_id is None:  # seen before (e.g. captured, deleted, captured again)
        source_id = _scalar(
            cursor,
            "SELECT id FROM sources WHERE platform = ? AND space = ? AND channel = ? "
            "AND message_id = ?",
            key,
        )
    visibility = visibilities.get(row.community_id)
    if visibility is None:
        visibility = Visibility(
            _scalar(
                cursor,
                "SELECT default_visibility FROM communities WHERE id = ?",
                (row.community_id,),
            )
            or Visibility.COMMUNITY
        )
        visibilities[row.community_id] = visibility
    return author_id, author_name, curator_id, source_id, visibility


def _member(
    cursor: sqlite3.Cursor,
    members: Members,
    community_id: int,
    platform: str,
    user_id: str,
    display_name: str,
    now: Any,
) -> tuple[int, str]:
    """`knowledge.directory.member_row` for a capture's author, in plain statements. Read
    once per author in a transaction (`members`): an import's lines share a few authors
    and one curator, two statements a line fewer."""
    key = (community_id, platform, user_id)
    known = members.get(key)
    if known is None:
        lookup = (
            "SELECT m.id, m.display_name, m.forgotten_at IS NOT NULL FROM identities i "
            "JOIN members m ON m.id = i.member_id "
            "WHERE i.community_id = ? AND i.platform = ? AND i.platform_user_id = ?"
        )
        found = cursor.execute(lookup, (community_id, platform, user_id)).fetchone()
        if found is None:
            member_id, name = _new_member(
                cursor, community_id, platform, user_id, display_name, now
            )
            if member_id is None:  # another writer created it first (not under one lock)
                found = cursor.execute(lookup, (community_id, platform, user_id)).fetchone()
            else:
                found = (member_id, name, False)
        known = members[key] = (found[0], found[1], bool(found[2]))
    member_id, current, forgotten = known
    if not forgotten and display_name and current != display_name:
        cursor.execute(
            "UPDATE members SET display_name = ? WHERE id = ?", (display_name, member_id)
        )
        members[key] = (member_id, display_name, forgotten)
        current = display_name
    return member_id, current


def _new_member(
    cursor: sqlite3.Cursor,
    community_id: int,
    platform: str,
    user_id: str,
    display_name: str,
    now: Any,
) -> tuple[int | None, str]:
    """A member and its identity; (None, "") if the identity existed after all."""
    display_name = display_name or user_id
    member_id = _scalar(
        cursor,
        "INSERT INTO members (community_id, display_name, role, created_at) "
        "VALUES (?, ?, 'member', ?) RETURNING id",
        (community_id, display_name, now),
    )
    inserted = _scalar(
        cursor,
        "INSERT INTO identities (community_id, member_id, platform, platform_user_id, "
        "display_name) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (community_id, platform, platform_user_id) DO NOTHING RETURNING id",
        (community_id, member_id, platform, user_id, display_name),
    )
    if inserted is None:
        cursor.execute("DELETE FROM members WHERE id = ?", (member_id,))
        return None, ""
    return member_id, display_name


def _scalar(cursor: sqlite3.Cursor, sql: str, params: Sequence[Any]) -> Any:
    found = cursor.execute(sql, params).fetchone()
    return None if found is None else found[0]
