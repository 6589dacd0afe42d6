"""One async engine per process, with the per-backend settings that make it safe to share.

SQLite: WAL so readers never wait on the writer, a busy timeout so several processes
queue instead of failing, and BEGIN IMMEDIATE so a transaction that reads then writes
cannot deadlock against another process (SQLite would fail it at once, timeout or not).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.engine.interfaces import ExecutionContext
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from knowledge.clock import Clock, SystemClock
from knowledge.liveness import FileLiveness, Liveness, MemoryLiveness, PostgresLiveness
from knowledge.sqlite_cursor import one_hop_statements

SQLITE_HEADER = b"SQLite format 3\x00"
CLOCK_OPTION = "hearth_clock"
_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}


class DatabaseUnavailable(Exception):
    """The configured database cannot be used; the message says why and what to do."""


def async_url(url: str) -> URL:
    """Accept the plain `sqlite:///hearth.db` / `postgresql://...` forms users write."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in _ASYNC_DRIVERS:
        raise DatabaseUnavailable(
            f"database_url {url!r}: only sqlite:/// and postgresql:// URLs are supported"
        )
    if "+" not in parsed.drivername:
        parsed = parsed.set(drivername=_ASYNC_DRIVERS[backend])
    return parsed


def sqlite_path(url: URL) -> Path | None:
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def check_sqlite_file(path: Path) -> None:
    """Refuse a file that is not SQLite before anything opens (and so modifies) it."""
    if not path.exists() or path.stat().st_size == 0:
        if not path.parent.exists():
            raise DatabaseUnavailable(
                f"database file {path}: folder {path.parent} does not exist; create it first"
            )
        if not os.access(path.parent, os.W_OK):
            raise DatabaseUnavailable(
                f"database file {path}: folder {path.parent} is read-only, so the database "
                "cannot be created there; make it writable or choose another folder."
            )
        return
    with path.open("rb") as f:
        header = f.read(len(SQLITE_HEADER))
    if header == SQLITE_HEADER and not os.access(path, os.W_OK):
        raise DatabaseUnavailable(
            f"database file {path} is read-only: Hearth writes to it (and to its -wal and "
            "-shm files beside it); make the file and its folder writable, then start again."
        )
    if header == SQLITE_HEADER and not os.access(path.parent, os.W_OK):
        raise DatabaseUnavailable(
            f"database file {path} is in a read-only folder ({path.parent}): SQLite writes "
            "its -wal and -shm files beside it; make the folder writable, then start again."
        )
    if header != SQLITE_HEADER:
        raise DatabaseUnavailable(
            f"database file {path} is not a SQLite database (corrupt or another kind of file). "
            "Hearth did not touch it: restore it from a backup or move it aside, "
            "then start again to create a new one."
        )


def stamped_now(context: ExecutionContext) -> datetime:
    """Column default for every timestamp: the database's injected clock, never the wall.

    The clock travels as an engine execution option, so ORM flushes and Core inserts
    alike stamp rows with the same "now" the rest of Hearth (and a test's ManualClock) sees.
    """
    clock: Clock = context.execution_options[CLOCK_OPTION]
    return clock.now()


@dataclass(frozen=True)
class Database:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    clock: Clock
    liveness: Liveness = field(default_factory=MemoryLiveness, compare=False)  # this process

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def dispose(self) -> None:
        await self.liveness.close()
        await self.engine.dispose()

    async def ping(self) -> None:
        """Raise unless the database answers a trivial query (readiness)."""
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    def connections_in_use(self) -> int:
        checkedout = getattr(self.engine.sync_engine.pool, "checkedout", None)
        return int(checkedout()) if callable(checkedout) else 0


def _tune_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        one_hop_statements(dbapi_connection)
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout = 30000")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def open_database(url: str, *, clock: Clock | None = None, echo: bool = False) -> Database:
    parsed = async_url(url)
    path = sqlite_path(parsed)
    if path is not None:
        check_sqlite_file(path)
    clock = clock or SystemClock()
    engine = create_async_engine(
        parsed,
        echo=echo,
        pool_pre_ping=path is None,
        execution_options={CLOCK_OPTION: clock},
    )
    liveness: Liveness = MemoryLiveness()
    if parsed.get_backend_name() == "sqlite":
        _tune_sqlite(engine)
        if path is not None:
            liveness = FileLiveness(path)
    else:
        liveness = PostgresLiveness(engine)
    return Database(engine, async_sessionmaker(engine, expire_on_commit=False), clock, liveness)
