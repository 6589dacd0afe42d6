"""Opening ritual rounds: one slot at a time, or a timer burst's slots in one transaction.

A round is unique per (ritual, scheduled time), so whoever inserts it owns posting its
prompt; a slot someone else holds is skipped. The burst's posted prompts are recorded in
one executemany.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, select, update

from knowledge.models import CommunityPrompt, Ritual, RitualRound
from knowledge.ritual_rows import (
    CHUNK,
    LEASE,
    NewRound,
    OpenedRound,
    PostedPrompt,
    RitualTables,
    RoundView,
    round_from_row,
    round_view,
)
from knowledge.upsert import insert_ignoring_conflict, insert_many_ignoring_conflict
from knowledge.vocabulary import RitualKind, RoundStatus


class RitualOpening(RitualTables):
    async def open_rounds(self, slots: Sequence[NewRound], now: datetime) -> list[OpenedRound]:
        """Create the rounds for many due slots in one transaction, three statements per
        CHUNK slots: the rounds (a slot someone else holds is skipped: at most one creator
        per round), the prompt rotation of the rituals whose round was created, and their
        communities' own prompts. Only the rounds created here are returned."""
        opened: list[OpenedRound] = []
        async with self._db.sessions.begin() as session:
            for start in range(0, len(slots), CHUNK):
                chunk = slots[start : start + CHUNK]
                created = await session.execute(
                    insert_many_ignoring_conflict(
                        session, RitualRound, ["ritual_id", "scheduled_for"]
                    ).returning(*RitualRound.__table__.c),
                    [
                        {
                            "ritual_id": s.ritual_id,
                            "scheduled_for": s.scheduled_for,
                            "status": RoundStatus.PENDING,
                            "late": s.late,
                            "manual": False,
                            "attempts": 0,
                            "prompt": "",
                            "next_attempt_at": now + LEASE,
                            "synthesis_stale": False,
                        }
                        for s in chunk
                    ],
                )
                rounds = {r.ritual_id: round_from_row(r) for r in created}
                if not rounds:
                    continue
                cursors = await session.execute(
                    update(Ritual)
                    .where(Ritual.id.in_(list(rounds)))
                    .values(prompt_cursor=Ritual.prompt_cursor + 1)
                    .returning(Ritual.id, Ritual.prompt_cursor)
                    .execution_options(synchronize_session=False)
                )
                index = {ritual_id: cursor - 1 for ritual_id, cursor in cursors}
                wanted = {(s.community_id, s.kind) for s in chunk if s.ritual_id in rounds}
                own: dict[tuple[int, RitualKind], list[str]] = {}
                prompts = await session.execute(
                    select(CommunityPrompt.community_id, CommunityPrompt.kind, CommunityPrompt.text)
                    .where(CommunityPrompt.community_id.in_({c for c, _ in wanted}))
                    .order_by(CommunityPrompt.id)
                )
                for community_id, kind, text in prompts:
                    own.setdefault((community_id, kind), []).append(text)
                for s in chunk:
                    if s.ritual_id in rounds:
                        opened.append(
                            OpenedRound(
                                rounds[s.ritual_id],
                                index.get(s.ritual_id, 0),
                                tuple(own.get((s.community_id, s.kind), ())),
                            )
                        )
        return opened

    async def mark_opened_many(self, posted: Sequence[PostedPrompt]) -> None:
        """`mark_opened` for many rounds in one transaction (one executemany)."""
        if not posted:
            return
        table = cast(Table, RitualRound.__table__)
        async with self._db.sessions.begin() as session:
            connection = await session.connection()
            await connection.execute(
                update(table).where(table.c.id == bindparam("round_id")),
                [
                    {
                        "round_id": p.round_id,
                        "status": RoundStatus.CLOSED if p.closed else RoundStatus.OPEN,
                        "prompt": p.prompt,
                        "message_id": p.message_id,
                        "opened_at": p.opened_at,
                        "remind_at": p.remind_at,
                        "closes_at": p.closes_at,
                        "closed_at": p.opened_at if p.closed else None,
                        "next_attempt_at": None,
                        "last_error": None,
                    }
                    for p in posted
                ],
            )

    async def next_prompt_index(self, ritual_id: int) -> int:
        """Advance the ritual's place in its prompt rotation; returns the index to use."""
        async with self._db.sessions.begin() as session:
            row = await session.get(Ritual, ritual_id)
            if row is None:
                return 0
            index = row.prompt_cursor
            row.prompt_cursor = index + 1
            return index

    async def create_round(
        self,
        ritual_id: int,
        scheduled_for: datetime,
        now: datetime,
        *,
        status: RoundStatus = RoundStatus.PENDING,
        late: bool = False,
        manual: bool = False,
        post_at: datetime | None = None,
        joint_round_id: int | None = None,
        joint_due_at: datetime | None = None,
    ) -> RoundView | None:
        """The round for this slot, if this call created it (the caller then owns posting).

        `post_at`: a later first try (a joint ritual's local hour), when the sweep's
        claim posts it; `joint_*`: the joint round it belongs to and when the
        constellation synthesis is due."""
        async with self._db.sessions.begin() as session:
            new_id = await session.scalar(
                insert_ignoring_conflict(
                    session,
                    RitualRound,
                    {
                        "ritual_id": ritual_id,
                        "scheduled_for": scheduled_for,
                        "status": status,
                        "late": late,
                        "manual": manual,
                        "attempts": 0,
                        "prompt": "",
                        "next_attempt_at": post_at or now + LEASE,
                        "synthesis_stale": False,
                        "joint_round_id": joint_round_id,
                        "joint_due_at": joint_due_at,
                    },
                    ["ritual_id", "scheduled_for"],
                ).returning(RitualRound.id)
            )
            if new_id is None:
                return None
            row = await session.get(RitualRound, new_id)
            assert row is not None
            return round_view(row)
