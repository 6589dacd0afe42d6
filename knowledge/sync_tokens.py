"""Where each adapter's event stream stopped, kept in the store.

Why in the database and not a file: the store is already the one thing every Hearth
process shares and backs up, and a token saved in the same place as the InboundLog means
a restart (or a move to another machine) resumes exactly where handling stopped.
A token is saved only after the batch it ends was handled; a crash in between redelivers
that batch, and the InboundLog skips what was already done.
"""

from __future__ import annotations

from sqlalchemy import select, update

from knowledge.db import Database
from knowledge.models import SyncCursor
from knowledge.upsert import insert_ignoring_conflict


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

    async def put(self, platform: str, key: str, token: str) -> None:
        now = self._db.clock.now()
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
