"""Where each adapter's event stream stopped, kept in the store.

Why in the database and not a file: the store is already the one thing every Hearth
process shares and backs up, and a token saved in the same place as the InboundLog means
a restart (or a move to another machine) resumes exactly where handling stopped.
A token is saved only after the batch it ends was handled; a crash in between redelivers
that batch, and the InboundLog skips what was already done.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from sqlalchemy import select, update

from knowledge.db import Database
from knowledge.inbound import mark_done
from knowledge.models import SyncCursor
from knowledge.sqlite_thread import time_binder, write_on_thread
from knowledge.upsert import dialect_insert, insert_ignoring_conflict


class SyncTokens:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def get(self, platform: str, key: str) -> str | None:
        async with self._db.sessions() as session:
            return await session.scalar(
                select(SyncCursor.token).where(
                    SyncCursor.platform == platform, SyncCursor.key == key
                )
            )

    async def put(self, platform: str, key: str, token: str, *, done: Sequence[str] = ()) -> None:
        """Save the token (one upsert statement); with `done`, also mark those inbound
        events of `platform` done (the batch the token ends), in the same transaction."""
        now = self._db.clock.now()
        if self._db.dialect == "sqlite":  # the sync loop's per-batch write: one hop
            stamp = time_binder(self._db)(now)
            await write_on_thread(self._db, _save, platform, key, token, stamp, list(done))
            return
        async with self._db.sessions.begin() as session:
            insert = dialect_insert(session.get_bind().dialect.name)
            if done:
                await session.execute(mark_done(platform, list(done), now))
            await session.execute(
                insert(SyncCursor)
                .values(platform=platform, key=key, token=token, updated_at=now)
                .on_conflict_do_update(
                    index_elements=["platform", "key"], set_={"token": token, "updated_at": now}
                )
            )

    async def advance(self, platform: str, key: str, at_least: int) -> int:
        """A number above every one this counter handed out before, to any process, and
        at least `at_least`: the console's message numbers, so that two transcripts (a
        deleted one, another folder) on one database never reuse an identity."""
        while True:
            current = await self.get(platform, key)
            previous = int(current) if current is not None and current.isdecimal() else 0
            number = max(at_least, previous + 1)
            now = self._db.clock.now()
            async with self._db.sessions.begin() as session:
                if current is None:
                    claimed = await session.scalar(
                        insert_ignoring_conflict(
                            session,
                            SyncCursor,
                            {
                                "platform": platform,
                                "key": key,
                                "token": str(number),
                                "updated_at": now,
                            },
                            ["platform", "key"],
                        ).returning(SyncCursor.key)
                    )
                else:  # compare and swap: another process may have taken `current` + 1
                    claimed = await session.scalar(
                        update(SyncCursor)
                        .where(
                            SyncCursor.platform == platform,
                            SyncCursor.key == key,
                            SyncCursor.token == current,
                        )
                        .values(token=str(number), updated_at=now)
                        .returning(SyncCursor.key)
                    )
            if claimed is not None:
                return number


DONE_CHUNK = 500  # ids per UPDATE, well under SQLite's bound-parameter limit


def _save(
    cursor: sqlite3.Cursor, platform: str, key: str, token: str, now: str, done: list[str]
) -> None:
    """On SQLite's thread, inside the caller's transaction: `put`'s two statements."""
    for start in range(0, len(done), DONE_CHUNK):
        ids = done[start : start + DONE_CHUNK]
        cursor.execute(
            "UPDATE inbound_events SET done_at = ?"
            f" WHERE platform = ? AND event_id IN ({', '.join('?' * len(ids))})",
            (now, platform, *ids),
        )
    cursor.execute(
        "INSERT INTO sync_cursors (platform, key, token, updated_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (platform, key) DO UPDATE"
        " SET token = excluded.token, updated_at = excluded.updated_at",
        (platform, key, token, now),
    )
