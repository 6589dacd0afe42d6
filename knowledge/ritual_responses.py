"""Ritual responses: replies recorded once per message, followed through edits and
deletions, and read back (with forgotten members' names withheld) for a synthesis.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from knowledge.models import Member, Ritual, RitualResponse, RitualRound
from knowledge.ritual_rows import ResponseView, RitualTables, respondent_numbers
from knowledge.upsert import insert_ignoring_conflict
from knowledge.views import FORGOTTEN_NAME


class RitualResponses(RitualTables):
    async def add_response(
        self,
        round_id: int,
        message_id: str,
        member_id: int | None,
        text: str,
        *,
        anonymous: bool,
        late: bool,
    ) -> bool:
        async with self._db.sessions.begin() as session:
            inserted = await session.scalar(
                insert_ignoring_conflict(
                    session,
                    RitualResponse,
                    {
                        "round_id": round_id,
                        "message_id": message_id,
                        "member_id": member_id,
                        "text": text,
                        "anonymous": anonymous,
                        "late": late,
                    },
                    ["round_id", "message_id"],
                ).returning(RitualResponse.id)
            )
            return inserted is not None

    async def change_response(
        self,
        round_id: int,
        message_id: str,
        *,
        text: str | None = None,
        deleted_at: datetime | None = None,
    ) -> bool:
        values: dict[str, Any] = {}
        if text is not None:
            values["text"] = text
        if deleted_at is not None:
            values["deleted_at"] = deleted_at
        async with self._db.sessions.begin() as session:
            result = await session.execute(
                update(RitualResponse)
                .where(RitualResponse.round_id == round_id, RitualResponse.message_id == message_id)
                .values(**values)
            )
            return bool(getattr(result, "rowcount", 0))

    async def responses(self, round_id: int) -> list[ResponseView]:
        async with self._db.sessions() as session:
            rows = (
                await session.execute(
                    select(RitualResponse, Member.display_name, Member.forgotten_at)
                    .outerjoin(Member, Member.id == RitualResponse.member_id)
                    .where(
                        RitualResponse.round_id == round_id,
                        RitualResponse.deleted_at.is_(None),
                    )
                    .order_by(RitualResponse.id)
                )
            ).all()
            numbers = respondent_numbers((r.id, r.round_id, r.member_id) for r, _, _ in rows)
            return [
                ResponseView(
                    r.id,
                    r.member_id,
                    FORGOTTEN_NAME if name is None or forgotten else name,
                    r.text,
                    r.anonymous,
                    r.late,
                    r.created_at,
                    numbers[r.id],
                )
                for r, name, forgotten in rows
            ]

    async def respondent_round_for(
        self, platform: str, space: str, channel: str, message_id: str
    ) -> int | None:
        """The round a response message belongs to (to follow its edits and deletions)."""
        async with self._db.sessions() as session:
            found = await session.scalar(
                select(RitualResponse.round_id)
                .join(RitualRound, RitualRound.id == RitualResponse.round_id)
                .join(Ritual, Ritual.id == RitualRound.ritual_id)
                .where(
                    Ritual.platform == platform,
                    Ritual.space == space,
                    Ritual.channel == channel,
                    RitualResponse.message_id == message_id,
                )
            )
            return None if found is None else int(found)
