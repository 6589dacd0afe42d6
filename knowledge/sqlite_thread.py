"""Run a function on the SQLite connection's own thread, in one hop (reads and writes).

Why: through SQLAlchemy's async engine each statement costs about four hand-offs between
the event loop and aiosqlite's worker thread (cursor, execute, fetch, close), plus BEGIN
IMMEDIATE, which makes every reader queue for the write lock. A search is three or four
small statements that take 2 ms in sqlite3; the hand-offs and the lock took 20-40 ms
(docs/architecture.md, bench/capture_search.py). Here the whole read runs as one call on
the thread that owns the connection: a read inside a deferred (snapshot) transaction, a
batch of captures (knowledge/capture_writer.py) managing its own.

aiosqlite has no public call for "run this function on your thread": see
`knowledge.sqlite_cursor.run_on_thread`, the one place that reaches into it.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from knowledge.db import Database
from knowledge.models import Insight
from knowledge.sqlite_cursor import run_on_thread

T = TypeVar("T")


async def on_connection_thread(database: Database, work: Callable[..., T], *args: Any) -> T:
    """`work(sqlite3 connection, *args)` on a pooled connection's own thread; `work`
    manages its transaction."""
    async with database.engine.connect() as connection:
        fairy = await connection.get_raw_connection()
        result: T = await run_on_thread(fairy.driver_connection, work, *args)
        return result


async def in_session_on_thread(session: AsyncSession, work: Callable[..., T], *args: Any) -> T:
    """`work(sqlite3 connection, *args)` on the thread of `session`'s connection, inside
    the session's transaction (begun now if it was not), in one hop; the session's
    pending ORM changes are flushed first, so `work` sees them."""
    await session.flush()
    connection = await session.connection()
    fairy = await connection.get_raw_connection()
    result: T = await run_on_thread(fairy.driver_connection, work, *args)
    return result


async def read_on_thread(
    database: Database, work: Callable[[sqlite3.Connection], T], setup: str | None = None
) -> T:
    """`work(connection)` inside BEGIN (deferred) … ROLLBACK on the connection's thread.

    `setup`: one statement run first, outside the transaction (e.g. creating a TEMP table
    that should outlive it)."""
    return await on_connection_thread(database, _in_snapshot, work, setup)


def _in_snapshot(
    connection: sqlite3.Connection, work: Callable[[sqlite3.Connection], T], setup: str | None
) -> T:
    if setup is not None:
        connection.execute(setup)
    connection.execute("BEGIN")
    try:
        return work(connection)
    finally:
        connection.execute("ROLLBACK")


async def write_on_thread(database: Database, work: Callable[..., T], *args: Any) -> T:
    """`work(cursor, *args)` inside BEGIN IMMEDIATE … COMMIT on the connection's thread:
    a whole write transaction in one hop (rolled back if `work` raises)."""
    return await on_connection_thread(database, _in_write, work, args)


def _in_write(connection: sqlite3.Connection, work: Callable[..., T], args: tuple[Any, ...]) -> T:
    cursor = connection.cursor()
    try:
        cursor.execute("BEGIN IMMEDIATE")
        result = work(cursor, *args)
        cursor.execute("COMMIT")
        return result
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    finally:
        cursor.close()


def time_binder(database: Database) -> Callable[[Any], Any]:
    """The models' own datetime bind processing (UTC, SQLAlchemy's SQLite text format),
    so raw statements store timestamps exactly as the ORM does."""
    return _time_binder(database.engine.dialect)


@functools.cache
def _time_binder(dialect: Any) -> Callable[[Any], Any]:
    column_type = Insight.__table__.c.created_at.type
    processor = column_type.dialect_impl(dialect).bind_processor(dialect)
    assert processor is not None
    return processor


def time_reader(database: Database) -> Callable[[Any], Any]:
    """The models' own datetime result processing: a stored timestamp read by raw SQL
    comes back as the ORM would return it."""
    return _time_reader(database.engine.dialect)


@functools.cache
def _time_reader(dialect: Any) -> Callable[[Any], Any]:
    column_type = Insight.__table__.c.created_at.type
    processor = column_type.dialect_impl(dialect).result_processor(dialect, None)
    return processor or (lambda value: value)
