"""Rituals held while Hearth cannot post where they live (a Slack workspace that
uninstalled Hearth, knowledge.ritual_holds): nothing is opened, posted or retried there.

Why this shape: a due slot of a held ritual creates no round, so nothing piles up and
the slot is treated like one missed while Hearth was down once the workspace is back
(run within the grace period, else recorded missed once). A prompt already waiting for
a retry is put off (no attempt counted) and tried again on reinstall; past the grace
period it is missed instead. A reminder due meanwhile is dropped, a round still closes
on time, and its synthesis waits for the workspace.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog

from knowledge.ritual_holds import UNINSTALLED
from knowledge.rituals import RitualView, RoundView
from knowledge.vocabulary import RoundStatus
from scheduling.engine_base import EngineBase

log = structlog.get_logger(__name__)

HOLD_RECHECK = timedelta(minutes=10)  # a held prompt looks again (a reinstall brings it on)

Away = frozenset[tuple[str, str]]


class Holding(EngineBase):
    async def away(self) -> Away:
        return await self._store.away_spaces()

    @staticmethod
    def held(ritual: RitualView, away: Away) -> bool:
        return (ritual.platform, ritual.space) in away

    def note_held_slot(self, ritual: RitualView, slot: datetime) -> None:
        log.warning(
            "ritual.held", ritual=ritual.name, slot=slot.isoformat(), space=ritual.space,
            why=UNINSTALLED, effect="not posted; resumes when the workspace adds Hearth back",
        )  # fmt: skip

    async def hold_due(self, ritual: RitualView, round_: RoundView, now: datetime) -> int:
        """A due step of a held ritual's round, done without the platform; steps done."""
        if round_.status is RoundStatus.PENDING:
            if now - round_.scheduled_for > self._grace:
                await self._store.end_round(round_.id, RoundStatus.MISSED)
                self._metrics.ritual_rounds.labels("missed").inc()
                log.warning("ritual.missed", ritual=ritual.name, round=round_.id, why=UNINSTALLED)
                return 1
            if await self._store.hold_round(round_.id, now, now + HOLD_RECHECK, UNINSTALLED):
                log.info("ritual.prompt_held", ritual=ritual.name, round=round_.id)
            return 0
        if round_.status is RoundStatus.OPEN and round_.closes_at and round_.closes_at <= now:
            return int(await self._store.claim_close(round_.id, now))  # synthesis waits
        if round_.status is RoundStatus.OPEN:
            dropped = await self._store.claim_reminder(round_.id, now)
            if dropped:
                log.info("ritual.reminder_dropped", ritual=ritual.name, why=UNINSTALLED)
            return int(dropped)
        return 0  # a synthesis to post: when the workspace is back
