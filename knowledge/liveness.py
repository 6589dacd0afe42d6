"""Which Hearth processes are alive right now, known rather than guessed.

Why not a lease: a process killed with SIGKILL and restarted a second later (systemd,
Docker) would find its own unfinished work "leased" to its dead self and skip it. Each
process that shares the store takes an *instance* id and holds a lock for its lifetime
that the operating system or the database server drops the moment the process dies:

- PostgreSQL: a session-level advisory lock on one dedicated connection; the server
  releases it when that connection's backend ends (a killed client's socket closes). Any
  process asks `pg_locks` whether another instance's lock is still held.
- SQLite file: an `flock` on `<database>.instances/<id>.lock`; the kernel releases it when
  the process dies. Anyone can try the lock: taking it means its owner is gone.
- SQLite in memory: one process only, so every instance recorded is this one.

The lock is taken lazily, on the first `instance()` call, so tools that only read the store
never hold one. A PostgreSQL connection lost while the process lives drops the lock too:
other instances then treat this one as dead and may redo its unfinished event, which
every handler tolerates (they are idempotent on their own keys).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import re
import secrets
import uuid
from pathlib import Path
from typing import IO, Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

LOCK_SPACE = 0x48454152  # "HEAR": the first key of every Hearth advisory lock
_PG_INSTANCE = re.compile(r"^pg:(\d{1,10})$")
_FILE_INSTANCE = re.compile(r"^file:([0-9a-f]{32})$")
MEMORY_INSTANCE = "memory"


class Liveness(Protocol):
    async def instance(self) -> str:
        """This process's instance id (its lock is held from the first call on)."""
        ...

    async def alive(self, instance: str) -> bool:
        """Whether the process holding `instance` is still running."""
        ...

    async def close(self) -> None: ...


class MemoryLiveness:
    """An in-memory database lives and dies with its only process."""

    async def instance(self) -> str:
        return MEMORY_INSTANCE

    async def alive(self, instance: str) -> bool:
        return instance == MEMORY_INSTANCE

    async def close(self) -> None:
        return None


class PostgresLiveness:
    """A session-level advisory lock on a connection held for the process's lifetime."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._connection: AsyncConnection | None = None
        self._id: str | None = None
        self._lock = asyncio.Lock()

    async def instance(self) -> str:
        if self._id is not None:
            return self._id
        async with self._lock:
            if self._id is None:
                connection = await self._engine.connect()
                try:
                    while True:  # a random key; another live instance's key is skipped
                        key = secrets.randbits(31)
                        got = await connection.scalar(
                            text("SELECT pg_try_advisory_lock(:space, :key)"),
                            {"space": LOCK_SPACE, "key": key},
                        )
                        if got:
                            break
                    await connection.commit()  # session-level: the lock outlives the transaction
                except BaseException:
                    await connection.close()
                    raise
                self._connection, self._id = connection, f"pg:{key}"
        return self._id

    async def alive(self, instance: str) -> bool:
        if instance == self._id:
            return True
        match = _PG_INSTANCE.match(instance)
        if match is None:
            return False
        async with self._engine.connect() as connection:
            held = await connection.scalar(
                text(
                    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory'"
                    " AND database = (SELECT oid FROM pg_database"
                    "                 WHERE datname = current_database())"
                    " AND classid::bigint = :space AND objid::bigint = :key"
                    " AND objsubid = 2 AND granted)"
                ),
                {"space": LOCK_SPACE, "key": int(match[1])},
            )
        return bool(held)

    async def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):  # closing the session frees the lock anyway
                await self._connection.close()
            self._connection, self._id = None, None


class FileLiveness:
    """An `flock` on a per-instance file beside the SQLite database file."""

    def __init__(self, database_file: Path) -> None:
        self._dir = database_file.parent / f"{database_file.name}.instances"
        self._file: IO[bytes] | None = None
        self._id: str | None = None

    def _path(self, name: str) -> Path:
        return self._dir / f"{name}.lock"

    async def instance(self) -> str:
        if self._id is None:
            self._dir.mkdir(exist_ok=True)
            name = uuid.uuid4().hex
            handle = self._path(name).open("wb")
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            self._file, self._id = handle, f"file:{name}"
            self._sweep()
        return self._id

    async def alive(self, instance: str) -> bool:
        if instance == self._id:
            return True
        match = _FILE_INSTANCE.match(instance)
        return match is not None and not self._release_if_dead(self._path(match[1]))

    def _release_if_dead(self, path: Path) -> bool:
        """True (and the file removed) if nobody holds the lock on `path`."""
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        else:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            return True
        finally:
            os.close(fd)

    def _sweep(self) -> None:
        """Remove the lock files of instances that died (they are never reused)."""
        for path in self._dir.glob("*.lock"):
            if self._id is None or path.name != f"{self._id.removeprefix('file:')}.lock":
                self._release_if_dead(path)

    async def close(self) -> None:
        if self._file is not None and self._id is not None:
            with contextlib.suppress(FileNotFoundError):
                self._path(self._id.removeprefix("file:")).unlink()
            self._file.close()  # closing the descriptor releases the flock
            self._file, self._id = None, None
