"""Run a read-only function on the SQLite connection's own thread, in one hop.

Why: through SQLAlchemy's async engine each statement costs about four hand-offs between
the event loop and aiosqlite's worker thread (cursor, execute, fetch, close), plus BEGIN
IMMEDIATE, which makes every reader queue for the write lock. A search is three or four
small statements that take 2 ms in sqlite3; the hand-offs and the lock took 20-40 ms
(docs/architecture.md, bench/capture_search.py). Here the whole read runs as one call on
the thread that owns the connection, inside a deferred (snapshot) transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

from knowledge.db import Database

T = TypeVar("T")


async def read_on_thread(
    database: Database, work: Callable[[sqlite3.Connection], T], setup: str | None = None
) -> T:
    """`work(connection)` inside BEGIN (deferred) … ROLLBACK on the connection's thread.

    `setup`: one statement run first, outside the transaction (e.g. creating a TEMP table
    that should outlive it)."""
    async with database.engine.connect() as connection:
        fairy = await connection.get_raw_connection()
        driver: Any = fairy.driver_connection  # aiosqlite.Connection
        queue = getattr(driver, "_execute", None)
        if queue is None or not isinstance(getattr(driver, "_conn", None), sqlite3.Connection):
            raise RuntimeError(  # pragma: no cover - guards an aiosqlite API change
                "this aiosqlite version cannot run work on its thread; install aiosqlite>=0.20"
            )
        result: T = await queue(_in_snapshot, driver._conn, work, setup)
        return result


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
