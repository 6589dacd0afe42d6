"""The ritual round lifecycle: open → (remind) → close → synthesis, each step exactly once.

Every method takes `now` and reads the store, so it is idempotent and needs no memory of
its own: APScheduler only decides *when* to call it, a restart just calls it again.
"""

from __future__ import annotations

from datetime import datetime

import structlog

from bot.events import MessageRef
from bot.port import DeliveryError, OutboundMessage
from knowledge.rituals import RitualView, RoundView
from knowledge.vocabulary import RoundStatus
from scheduling.engine_base import (
    UNKNOWN,
    ConstellationNews,
    Narrator,
    Scheduled,
    Unknown,
    channel_of,
    schedule_of,
)
from scheduling.joint import JointSynthesis, joint_closes
from scheduling.kinds import behaviour
from scheduling.opening import RoundOpening

__all__ = [
    "UNKNOWN",
    "ConstellationNews",
    "Narrator",
    "RitualEngine",
    "Scheduled",
    "Unknown",
    "channel_of",
    "schedule_of",
]

log = structlog.get_logger(__name__)


class RitualEngine(RoundOpening, JointSynthesis):
    """Opening (see `RoundOpening`), then everything after: retries, reminders, closing
    and the synthesis, and for joint rituals the constellation synthesis (`JointSynthesis`)."""

    async def process_due(self, now: datetime) -> int:
        """Retry posts, send reminders, close rounds, refresh syntheses; returns steps done."""
        done = 0
        away = await self.away()
        for round_ in await self._store.due(now):
            ritual = await self._store.by_id(round_.ritual_id)
            if ritual is None:
                continue
            if self.held(ritual, away):
                done += await self.hold_due(ritual, round_, now)
                continue
            if ritual.joint_id is not None and not await self._joint_goes_on(ritual, round_, now):
                continue
            if round_.status is RoundStatus.PENDING:
                if await self._store.claim_pending(round_.id, now):
                    retry = await self.post_prompt(ritual, round_, now, maybe_posted=True)
                    done += retry is not None
            elif round_.status is RoundStatus.OPEN and round_.closes_at and round_.closes_at <= now:
                if await self._store.claim_close(round_.id, now):
                    await self.synthesize(ritual, round_.id, now)
                    done += 1
            elif round_.status is RoundStatus.OPEN:
                if await self._store.claim_reminder(round_.id, now):
                    await self._remind(ritual, round_, now)
                    done += 1
            elif round_.status is RoundStatus.CLOSED:
                done += await self.synthesize(ritual, round_.id, now)
        return done + await self.process_joint(now)

    async def _joint_goes_on(self, ritual: RitualView, round_: RoundView, now: datetime) -> bool:
        """A joint round whose community left or declined is not posted nor reminded of
        (its own close and synthesis stay, in its own channel); one never posted within
        the shared window is missed."""
        if round_.status is RoundStatus.PENDING:
            if not await self._store.takes_part(ritual):
                await self._store.end_round(round_.id, RoundStatus.SKIPPED)
                return False
            if now >= joint_closes(ritual, round_.scheduled_for):
                await self._store.end_round(round_.id, RoundStatus.MISSED)
                return False
        elif round_.status is RoundStatus.OPEN and not (
            round_.closes_at and round_.closes_at <= now
        ):
            return await self._store.takes_part(ritual)
        return True

    async def synthesize(self, ritual: RitualView, round_id: int, now: datetime) -> bool:
        """Post the synthesis, or edit it in place when late replies changed it (once,
        whichever process gets the claim)."""
        if not await self._store.claim_synthesis(round_id, now):
            return False
        round_ = await self._store.round(round_id)
        if round_ is None or round_.message_id is None:
            return False
        responses = await self._store.responses(round_id)
        text = behaviour(ritual.kind).synthesis(ritual, responses)
        if text and responses and self._narrator is not None:
            story = await self._narrator(
                ritual.community_id, ritual.name, [r.text for r in responses]
            )
            if story:
                head, _, rest = text.partition("\n")
                text = f"{head}\n{story}\n{rest}"
        if not text:
            await self._store.mark_synthesis(round_id, None, stale=False)
            return False
        channel = channel_of(ritual)
        prompt_ref = MessageRef(channel, round_.message_id)
        try:
            port = self.port_for(ritual)
            if round_.synthesis_message_id:
                await port.edit(
                    MessageRef(channel, round_.synthesis_message_id), OutboundMessage(text)
                )
                posted = round_.synthesis_message_id
            else:
                posted = (
                    await port.post(channel, OutboundMessage(text), thread=prompt_ref)
                ).message_id
        except DeliveryError as exc:
            log.warning("ritual.synthesis_failed", ritual=ritual.name, error=str(exc))
            await self._store.mark_synthesis(round_id, None, stale=True)  # retried when due
            return False
        await self._store.mark_synthesis(round_id, posted, stale=False)
        return True

    async def _remind(self, ritual: RitualView, round_: RoundView, now: datetime) -> None:
        if round_.message_id is None or round_.closes_at is None:
            return
        names = await self._store.reminder_names(
            ritual.community_id, round_.id, ritual.platform, now
        )
        left = round_.closes_at - now
        hours = max(1, round(left.total_seconds() / 3600))
        who = f"{', '.join(names)}: " if names else ""
        text = f"⏰ {who}about {hours} hour(s) left to answer “{ritual.name}” in this thread."
        channel = channel_of(ritual)
        try:
            await self.port_for(ritual).post(
                channel, OutboundMessage(text), thread=MessageRef(channel, round_.message_id)
            )
        except DeliveryError as exc:
            log.warning("ritual.reminder_failed", ritual=ritual.name, error=str(exc))
