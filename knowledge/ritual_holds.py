"""Rituals held while their platform space has no Hearth: a Slack workspace that
uninstalled Hearth (or revoked its token) can be posted to by no one.

Why a hold and not the ritual's own `paused`: `paused` is the steward's word and stays
theirs; a hold is the workspace's absence, read from its installation row at each step,
so it ends by itself when the workspace installs Hearth again (which also brings a held
prompt's next try forward, `SlackInstalls.save`). Nothing is created or retried while
held, so nothing piles up; a slot that passes meanwhile is treated like one missed
while Hearth was down.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from knowledge.models import RitualRound, SlackInstallation
from knowledge.ritual_rows import RitualTables
from knowledge.vocabulary import RoundStatus

SLACK = "slack"
UNINSTALLED = "the Slack workspace uninstalled Hearth"  # why a ritual there is held


class RitualHolds(RitualTables):
    async def away_spaces(self) -> frozenset[tuple[str, str]]:
        """(platform, space) pairs Hearth cannot post to: uninstalled Slack workspaces."""
        async with self._db.sessions() as session:
            teams = await session.scalars(
                select(SlackInstallation.team_id).where(SlackInstallation.sealed.is_(None))
            )
            return frozenset((SLACK, team) for team in teams)

    async def hold_round(self, round_id: int, now: datetime, until: datetime, why: str) -> bool:
        """Put a due prompt's next try off to `until` without counting an attempt (one
        conditional UPDATE, like a claim: False if another process took it)."""
        async with self._db.sessions.begin() as session:
            result = await session.execute(
                update(RitualRound)
                .where(
                    RitualRound.id == round_id,
                    RitualRound.status == RoundStatus.PENDING,
                    RitualRound.next_attempt_at <= now,
                )
                .values(next_attempt_at=until, last_error=f"held: {why}")
            )
        return bool(getattr(result, "rowcount", 0))
