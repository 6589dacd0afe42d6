"""Previews waiting for their author's confirm, shared by every instance on the store.

A member has at most one pending item per kind (a new preview replaces the old one).
`take` deletes and returns it in one statement, so two instances handed the same
confirm cannot both act on it, and an expired item is never returned.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite

from knowledge.db import Database
from knowledge.models import PendingConfirmation


class PendingStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def put(
        self,
        kind: str,
        member_id: int,
        community_id: int,
        payload: dict[str, Any],
        valid_for: timedelta,
    ) -> None:
        """Keep `payload` for the member's next confirm of `kind`, replacing any older one."""
        values = {
            "member_id": member_id,
            "kind": kind,
            "community_id": community_id,
            "payload": payload,
            "expires_at": self._db.clock.now() + valid_for,
        }
        async with self._db.sessions.begin() as session:
            insert = postgresql.insert if self._db.dialect == "postgresql" else sqlite.insert
            statement = insert(PendingConfirmation).values(values)
            await session.execute(
                statement.on_conflict_do_update(
                    index_elements=["member_id", "kind"],
                    set_={
                        "community_id": statement.excluded.community_id,
                        "payload": statement.excluded.payload,
                        "expires_at": statement.excluded.expires_at,
                    },
                )
            )

    async def take(self, kind: str, member_id: int, community_id: int) -> dict[str, Any] | None:
        """The member's pending `kind` in this community, removed; None if there is none or
        it expired."""
        now = self._db.clock.now()
        async with self._db.sessions.begin() as session:
            row = (
                await session.execute(
                    delete(PendingConfirmation)
                    .where(
                        PendingConfirmation.member_id == member_id,
                        PendingConfirmation.kind == kind,
                        PendingConfirmation.community_id == community_id,
                    )
                    .returning(PendingConfirmation.payload, PendingConfirmation.expires_at)
                )
            ).first()
        if row is None or row.expires_at <= now:
            return None
        return dict(row.payload)
