"""Previews waiting for their author's confirm, shared by every instance on the store.

A member has at most one pending item per kind (a new preview replaces the old one).
`take` claims it in one conditional UPDATE (so two instances handed the same confirm
cannot both act on it) and `done` deletes it once the confirmed action is stored. A
crash in between leaves the claim to lapse after CLAIM, like an inbound event's lease,
so the redelivered confirm finds the preview again. An expired item is never returned.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import delete, or_, update

from knowledge.db import Database
from knowledge.inbound import LEASE
from knowledge.models import PendingConfirmation
from knowledge.upsert import dialect_insert

CLAIM = LEASE  # a redelivered confirm (after its taker died) may take the preview again


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
            "claimed_until": None,
        }
        async with self._db.sessions.begin() as session:
            insert = dialect_insert(self._db.dialect)
            statement = insert(PendingConfirmation).values(values)
            await session.execute(
                statement.on_conflict_do_update(
                    index_elements=["member_id", "kind"],
                    set_={
                        "community_id": statement.excluded.community_id,
                        "payload": statement.excluded.payload,
                        "expires_at": statement.excluded.expires_at,
                        "claimed_until": None,
                    },
                )
            )

    async def take(self, kind: str, member_id: int, community_id: int) -> dict[str, Any] | None:
        """Claim the member's pending `kind` in this community; None if there is none, it
        expired, or another instance is acting on it. Call `done` once the action is kept."""
        now = self._db.clock.now()
        async with self._db.sessions.begin() as session:
            row = (
                await session.execute(
                    update(PendingConfirmation)
                    .where(
                        PendingConfirmation.member_id == member_id,
                        PendingConfirmation.kind == kind,
                        PendingConfirmation.community_id == community_id,
                        PendingConfirmation.expires_at > now,
                        or_(
                            PendingConfirmation.claimed_until.is_(None),
                            PendingConfirmation.claimed_until <= now,
                        ),
                    )
                    .values(claimed_until=now + CLAIM)
                    .returning(PendingConfirmation.payload)
                )
            ).first()
        return None if row is None else dict(row.payload)

    async def done(self, kind: str, member_id: int) -> None:
        """The confirmed action is stored: the preview is used up."""
        async with self._db.sessions.begin() as session:
            await session.execute(
                delete(PendingConfirmation).where(
                    PendingConfirmation.member_id == member_id,
                    PendingConfirmation.kind == kind,
                    PendingConfirmation.claimed_until.is_not(None),  # not a newer preview
                )
            )
