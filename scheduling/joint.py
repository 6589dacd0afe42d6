"""Joint rituals in the engine: when a community's prompt goes out within the shared
window, and the constellation synthesis each community gets once the window closes.

Each community's part is an ordinary ritual of its own (its channel, its replies, its
own synthesis); what is joint is the slot (a `JointRound`) and the close. Posting the
constellation synthesis is claimed per community in the store, so several instances
post it once in each; who takes part is read at that moment, so a community that left
or declined is neither posted to nor quoted.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import structlog

from bot.events import ChannelRef, MessageRef
from bot.port import DeliveryError, OutboundMessage
from knowledge.joint_rows import Contribution, Voice
from knowledge.rituals import RitualView, RoundView
from scheduling.engine_base import EngineBase, channel_of
from scheduling.joint_synthesis import JointRoundText, constellation_synthesis

log = structlog.get_logger(__name__)

RETRY = timedelta(minutes=1)


def parse_local_time(text: str) -> tuple[time, str]:
    """A stored local hour, "HH:MM Zone", as (time, zone name)."""
    clock, _, zone = text.partition(" ")
    hour, _, minute = clock.partition(":")
    return time(int(hour), int(minute)), zone or "UTC"


def local_post_at(local: str | None, slot: datetime, closes: datetime) -> datetime:
    """The first moment at or after the slot when the community's clock shows its chosen
    hour; the slot itself when it chose none, or when that hour misses the window."""
    if not local:
        return slot
    at, zone_name = parse_local_time(local)
    zone = ZoneInfo(zone_name)
    day = slot.astimezone(zone).date()
    for offset in range(8):
        candidate = datetime.combine(day + timedelta(days=offset), at, zone)
        if candidate >= slot:
            return candidate if candidate < closes else slot
    return slot


def joint_closes(ritual: RitualView, slot: datetime) -> datetime:
    """Every community's round of a joint slot closes together, at the window's end."""
    return slot + timedelta(minutes=ritual.window_minutes)


class JointSynthesis(EngineBase):
    async def process_joint(self, now: datetime) -> int:
        """Post every constellation synthesis that is due; returns how many were posted."""
        done = 0
        for round_ in await self._store.joint_due(now):
            done += await self.synthesize_joint(round_, now)
        return done

    async def synthesize_joint(self, round_: RoundView, now: datetime) -> bool:
        ritual = await self._store.by_id(round_.ritual_id)
        if ritual is None or ritual.joint_id is None or round_.joint_round_id is None:
            return False
        if not await self._store.claim_joint_synthesis(round_.id, now):
            return False
        joint = await self._store.joint(ritual.joint_id)
        if joint is None or not await self._store.takes_part(ritual):
            await self._store.mark_joint_synthesis(round_.id, None)  # its part has ended
            return False
        contributions = await self._store.contributions(round_.joint_round_id)
        story = None
        texts = [v.text for c in contributions for v in c.voices]
        if texts and self._joint_narrator is not None:
            communities = [c.community_id for c in contributions]
            story = await self._joint_narrator(communities, joint.name, texts)
        channel = channel_of(ritual)
        try:
            port = self.port_for(ritual)

            def permalink(c: Contribution, voice: Voice) -> str | None:
                ref = MessageRef(ChannelRef(c.platform, c.space, c.channel), voice.message_id)
                return port.permalink(ref)

            text = constellation_synthesis(
                JointRoundText(joint.name, round_.joint_round_id, contributions, story),
                ritual.community_id,
                permalink,
            )
            thread = MessageRef(channel, round_.message_id) if round_.message_id else None
            # Due later than the close: an earlier claim (perhaps by an instance that died
            # after posting) moved it, so adapters that can only look should look.
            again = round_.closes_at is None or round_.joint_due_at != round_.closes_at
            posted = await port.post(
                channel,
                OutboundMessage(
                    text, idempotency_key=f"joint-synthesis:{round_.id}", maybe_posted=again
                ),
                thread=thread,
            )
        except DeliveryError as exc:
            log.warning("ritual.joint_synthesis_failed", ritual=ritual.name, error=str(exc))
            await self._store.mark_joint_synthesis(round_.id, None, retry_at=now + RETRY)
            return False
        await self._store.mark_joint_synthesis(round_.id, posted.message_id)
        log.info("ritual.joint_synthesis", ritual=ritual.name, joint_round=round_.joint_round_id)
        return True
