"""Members' own ritual choices (reminders, snoozes, who to remind) and the community's
own prompt library.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update

from knowledge.models import (
    CommunityPrompt,
    Identity,
    Member,
    MemberPreference,
    RitualResponse,
)
from knowledge.ritual_rows import RitualTables
from knowledge.upsert import insert_ignoring_conflict
from knowledge.vocabulary import RitualKind


class RitualPreferences(RitualTables):
    async def preferences(self, member_id: int) -> MemberPreference:
        async with self._db.sessions() as session:
            row = await session.get(MemberPreference, member_id)
            return row or MemberPreference(member_id=member_id, reminders=False)

    async def set_preferences(self, member_id: int, **values: Any) -> None:
        async with self._db.sessions.begin() as session:
            await session.execute(
                insert_ignoring_conflict(
                    session,
                    MemberPreference,
                    {"member_id": member_id, "reminders": False},
                    ["member_id"],
                )
            )
            await session.execute(
                update(MemberPreference)
                .where(MemberPreference.member_id == member_id)
                .values(**values)
            )

    async def reminder_names(
        self, community_id: int, round_id: int, platform: str, now: datetime
    ) -> list[str]:
        """Members who asked for reminders, have not answered, and are not snoozed."""
        async with self._db.sessions() as session:
            answered = select(RitualResponse.member_id).where(
                RitualResponse.round_id == round_id, RitualResponse.member_id.is_not(None)
            )
            rows = await session.scalars(
                select(Identity.display_name)
                .join(Member, Member.id == Identity.member_id)
                .join(MemberPreference, MemberPreference.member_id == Member.id)
                .where(
                    Member.community_id == community_id,
                    Member.forgotten_at.is_(None),
                    Identity.platform == platform,
                    MemberPreference.reminders.is_(True),
                    or_(
                        MemberPreference.snoozed_until.is_(None),
                        MemberPreference.snoozed_until <= now,
                    ),
                    Member.id.not_in(answered),
                )
                .order_by(Identity.display_name)
            )
            return list(dict.fromkeys(rows))

    # prompt library ------------------------------------------------------------------

    async def add_prompt(
        self, community_id: int, kind: RitualKind, text: str, member_id: int | None
    ) -> bool:
        async with self._db.sessions.begin() as session:
            inserted = await session.scalar(
                insert_ignoring_conflict(
                    session,
                    CommunityPrompt,
                    {
                        "community_id": community_id,
                        "kind": kind,
                        "text": text,
                        "added_by_member_id": member_id,
                    },
                    ["community_id", "kind", "text"],
                ).returning(CommunityPrompt.id)
            )
            return inserted is not None

    async def community_prompts(self, community_id: int, kind: RitualKind) -> Sequence[str]:
        async with self._db.sessions() as session:
            rows = await session.scalars(
                select(CommunityPrompt.text)
                .where(CommunityPrompt.community_id == community_id, CommunityPrompt.kind == kind)
                .order_by(CommunityPrompt.id)
            )
            return list(rows)
