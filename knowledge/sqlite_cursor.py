"""SQLite statements through SQLAlchemy in one hop to aiosqlite's thread, not four.

Why: SQLAlchemy's aiosqlite cursor makes a hand-off between the event loop and the
connection's thread for each of creating a cursor, executing, fetching and closing; each
hand-off wakes the other thread and trades the GIL, and under load that was the largest
single cost of a relayed message (bench/README.md, issue #17). This cursor runs the four
on the thread as one call and keeps the rows, so every ORM and Core statement on SQLite
costs one hop, whatever issued it. Server-side (streaming) cursors are left as they are.

BEGIN IMMEDIATE (db.py issues it at the start of every session's transaction) goes with
the transaction's first statement, in its hop, rather than in a hop of its own; a
transaction that ends with nothing run in it sends neither. It still takes the write lock
before the statement runs, so the transaction is the same; only a lock wait (or busy
error) now surfaces at that first statement rather than at the BEGIN.

The connection also skips the ROLLBACK the pool sends when a connection comes back after
a COMMIT (SQLAlchemy resets it unless a transaction was still open): whether SQLite is
in a transaction is noted on the thread after every call, and a ROLLBACK outside one is
a no-op in sqlite3 anyway, so it is not sent.

aiosqlite has no public call for "run this function on your thread"; `run_on_thread`
uses its `_execute`, in this one place, behind a check (pyproject.toml bounds aiosqlite
to the versions tested).
"""

from __future__ import annotations

import collections
import sqlite3
from typing import Any, TypeVar

from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
)
from sqlalchemy.util.concurrency import await_

T = TypeVar("T")
IN_TRANSACTION = "_hearth_in_transaction"  # noted on the aiosqlite Connection
BEGIN_PENDING = "_hearth_begin_pending"  # ditto: a BEGIN to send with the next statement
DEFERRED_BEGIN = "BEGIN IMMEDIATE"
# (description, rowcount, lastrowid, rows) of one statement
Outcome = tuple[Any, int, int | None, list[Any]]


async def run_on_thread(driver: Any, work: Any, *args: Any) -> Any:
    """`work(sqlite3 connection, *args)` on the thread of `driver` (an aiosqlite
    Connection), as one queued call (after a deferred BEGIN IMMEDIATE, if one waits)."""
    queue = getattr(driver, "_execute", None)
    if queue is None or not isinstance(getattr(driver, "_conn", None), sqlite3.Connection):
        raise RuntimeError(  # pragma: no cover - guards an aiosqlite API change
            "this aiosqlite version cannot run work on its thread; install aiosqlite>=0.20"
        )
    if getattr(driver, BEGIN_PENDING, False):  # the transaction starts with this work
        setattr(driver, BEGIN_PENDING, False)
        work = _begun(work)
    return await queue(_noting_transaction, driver, work, *args)


def _noting_transaction(driver: Any, work: Any, *args: Any) -> Any:
    try:
        return work(driver._conn, *args)
    finally:
        setattr(driver, IN_TRANSACTION, driver._conn.in_transaction)


def _commit(connection: sqlite3.Connection) -> None:
    connection.commit()


def _rollback(connection: sqlite3.Connection) -> None:
    connection.rollback()


def _begun(work: Any) -> Any:
    """`work` preceded by the deferred BEGIN IMMEDIATE, in the same call on the thread."""

    def begun(connection: sqlite3.Connection, *args: Any) -> Any:
        connection.execute(DEFERRED_BEGIN)
        return work(connection, *args)

    return begun


def _statement(connection: sqlite3.Connection, operation: str, parameters: Any) -> Outcome:
    cursor = connection.cursor()
    try:
        if parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        rows = cursor.fetchall() if cursor.description else []
        return cursor.description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


def _statements(connection: sqlite3.Connection, operation: str, rows: Any) -> Outcome:
    cursor = connection.cursor()
    try:
        cursor.executemany(operation, rows)
        found = cursor.fetchall() if cursor.description else []
        return cursor.description, cursor.rowcount, cursor.lastrowid, found
    finally:
        cursor.close()


class OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    """A DBAPI cursor for SQLAlchemy whose statement runs, is fetched and is closed on
    the connection's thread in one call."""

    __slots__ = ("_outcome",)

    def __init__(self, adapt_connection: Any) -> None:  # no aiosqlite cursor: no hop
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = {}  # type: ignore[assignment]
        self._rows = collections.deque()
        self._outcome: Outcome = (None, -1, None, [])

    @property
    def description(self) -> Any:
        return self._outcome[0]

    @property
    def rowcount(self) -> int:
        return self._outcome[1]

    @property
    def lastrowid(self) -> Any:
        return self._outcome[2]

    @property
    def arraysize(self) -> int:
        return 1  # sqlite3's default; only fetchmany() without a size reads it

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        pass

    def _run(self, work: Any, operation: Any, parameters: Any) -> None:
        try:
            self._outcome = await_(run_on_thread(self._connection, work, operation, parameters))
        except Exception as error:
            self._adapt_connection._handle_exception(error)
        self._rows = collections.deque(self._outcome[3])

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        if operation == DEFERRED_BEGIN and not parameters:  # sent with the next statement
            setattr(self._connection, BEGIN_PENDING, True)
            self._outcome = (None, -1, None, [])
            self._rows = collections.deque()
            return
        self._run(_statement, operation, parameters)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        self._run(_statements, operation, seq_of_parameters)

    async def _async_soft_close(self) -> None:
        return None  # closed on the thread already

    def close(self) -> None:
        self._rows.clear()


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneHopCursor

    def commit(self) -> None:
        if not self._begun_nothing():
            self._finish(_commit)

    def rollback(self) -> None:
        if self._begun_nothing():
            return
        if getattr(self._connection, IN_TRANSACTION, True):  # unknown: send it
            self._finish(_rollback)

    def _begun_nothing(self) -> bool:
        """A deferred BEGIN with no statement after it: the transaction never started."""
        pending = bool(getattr(self._connection, BEGIN_PENDING, False))
        if pending:
            setattr(self._connection, BEGIN_PENDING, False)
        return pending

    def _finish(self, work: Any) -> None:
        if not self._connection._connection:  # closed: as SQLAlchemy's own
            return
        try:
            await_(run_on_thread(self._connection, work))
        except Exception as error:
            self._handle_exception(error)


def one_hop_statements(dbapi_connection: Any) -> None:
    """Make a new pooled aiosqlite connection's cursors `OneHopCursor`s."""
    if type(dbapi_connection) is AsyncAdapt_aiosqlite_connection:
        dbapi_connection.__class__ = OneHopConnection
