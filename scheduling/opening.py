"""Opening ritual rounds: a due slot once, a timer burst in a few transactions, run-now,
and posting (or retrying) a round's prompt.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

import structlog

from bot.port import DeliveryError, OutboundMessage, RateLimited
from bot.retry import retry_delay
from knowledge.errors import InvalidInput
from knowledge.ritual_holds import UNINSTALLED
from knowledge.rituals import NewRound, OpenedRound, PostedPrompt, RitualView, RoundView
from knowledge.views import InsightView
from knowledge.vocabulary import RoundStatus
from scheduling.engine_base import UNKNOWN, Unknown, channel_of, schedule_of
from scheduling.holds import Holding
from scheduling.joint import joint_closes, local_post_at
from scheduling.kinds import PromptInputs, behaviour
from scheduling.prompts import pick_prompt

log = structlog.get_logger(__name__)

ON_TIME = timedelta(minutes=1)  # later than this after its slot, a prompt says it is late
FIRST_RETRY = timedelta(seconds=15)  # a prompt that failed to post: then doubling
MAX_BACKOFF = timedelta(minutes=30)
RECENT = timedelta(days=2)  # see RoundOpening._due_slot
POSTS_IN_FLIGHT = 16  # prompts of one burst posted at once (platforms rate-limit anyway)


class RoundOpening(Holding):
    """The engine's first step: rounds created, prompts posted, failures retried later;
    nothing for a ritual whose workspace uninstalled Hearth (see `Holding`)."""

    async def open_due(
        self, ritual: RitualView, now: datetime, last_slot: datetime | Unknown | None = UNKNOWN
    ) -> RoundView | None:
        """Open the ritual's latest due slot once; older missed slots are not replayed.

        `last_slot` may be passed in when the caller loaded it for many rituals at once.
        """
        if ritual.paused:
            return None
        if isinstance(last_slot, Unknown):
            last_slot = await self._store.last_slot(ritual.id)
        slot = self._due_slot(ritual, now, last_slot)
        if slot is None:
            return None
        if ritual.skip_next:
            created = await self._store.create_round(
                ritual.id, slot, now, status=RoundStatus.SKIPPED
            )
            if created is not None:
                await self._store.change(ritual.id, skip_next=False)
                log.info("ritual.skipped", ritual=ritual.name, slot=slot.isoformat())
            return None
        if ritual.joint_id is not None:
            return await self._open_joint(ritual, slot, now)
        if now - slot > self._grace:
            missed = await self._store.create_round(ritual.id, slot, now, status=RoundStatus.MISSED)
            if missed is not None:
                self._metrics.ritual_rounds.labels("missed").inc()
            log.warning("ritual.missed", ritual=ritual.name, slot=slot.isoformat())
            return None
        round_ = await self._store.create_round(ritual.id, slot, now, late=now - slot > ON_TIME)
        if round_ is None:
            return None  # another process (or an earlier call) owns this slot
        return await self.post_prompt(ritual, round_, now)

    async def _open_joint(
        self, ritual: RitualView, slot: datetime, now: datetime
    ) -> RoundView | None:
        """A community's round of a joint slot: posted at its own hour within the shared
        window (by the sweep, when that is later), closing with everyone's."""
        if not await self._store.takes_part(ritual):
            return None
        closes = joint_closes(ritual, slot)
        post_at = local_post_at(ritual.local_time, slot, closes)
        if now >= closes or now - post_at > self._grace:
            if await self._store.create_round(ritual.id, slot, now, status=RoundStatus.MISSED):
                self._metrics.ritual_rounds.labels("missed").inc()
            return None
        joint_round = await self._store.joint_round(ritual.joint_id or 0, slot, closes)
        round_ = await self._store.create_round(
            ritual.id,
            slot,
            now,
            late=now - post_at > ON_TIME,
            post_at=post_at if post_at > now else None,
            joint_round_id=joint_round,
            joint_due_at=closes,
        )
        if round_ is None or post_at > now:
            return None  # another process owns it, or the sweep posts it at its hour
        return await self.post_prompt(ritual, round_, now)

    async def open_due_many(
        self,
        rituals: Sequence[RitualView],
        now: datetime,
        last_slots: Mapping[int, datetime],
    ) -> list[RoundView]:
        """`open_due` for many rituals at once (a timer burst): the rounds are created,
        the prompt rotations advanced and the communities' prompts read in one
        transaction, the prompts posted a few at a time, and every posted round recorded
        in one more. Rituals needing more than a scheduled prompt (skipped, missed,
        digests) take the one-at-a-time path. `last_slots` must hold every ritual that
        has a scheduled round (as `RitualStore.last_slots` returns them)."""
        batch: list[tuple[RitualView, NewRound]] = []
        single: list[RitualView] = []
        recent: dict[tuple[str, str, int, str | None], datetime | None] = {}
        away = await self.away()
        for ritual in rituals:
            if ritual.paused:
                continue
            if self.held(ritual, away):
                slot = self._due_slot(ritual, now, last_slots.get(ritual.id), recent)
                if slot is not None:
                    self.note_held_slot(ritual, slot)
                continue
            if (
                ritual.skip_next
                or ritual.joint_id is not None
                or not behaviour(ritual.kind).collects_responses
            ):
                single.append(ritual)
                continue
            slot = self._due_slot(ritual, now, last_slots.get(ritual.id), recent)
            if slot is None:
                continue
            if now - slot > self._grace:
                single.append(ritual)  # recorded as missed there
                continue
            late = now - slot > ON_TIME
            batch.append(
                (ritual, NewRound(ritual.id, ritual.community_id, ritual.kind, slot, late))
            )
        opened: list[RoundView] = []
        for ritual in single:
            round_ = await self.open_due(ritual, now, last_slots.get(ritual.id))
            if round_ is not None:
                opened.append(round_)
        if not batch:
            return opened
        by_id = {ritual.id: ritual for ritual, _ in batch}
        created = await self._store.open_rounds([new for _, new in batch], now)
        posts = asyncio.Semaphore(POSTS_IN_FLIGHT)

        async def post(item: OpenedRound) -> tuple[RoundView, PostedPrompt] | None:
            ritual = by_id[item.round.ritual_id]
            text = behaviour(ritual.kind).prompt(
                PromptInputs(
                    ritual,
                    pick_prompt(list(item.own_prompts), ritual.kind, item.prompt_index),
                    (),
                    ritual.created_at,  # only digests show it; they are not batched
                    item.round.late,
                )
            )
            async with posts:
                return await self._post_only(ritual, item.round, text, now)

        results = await asyncio.gather(*(post(item) for item in created))
        done = [r for r in results if r is not None]
        await self._store.mark_opened_many([p for _, p in done])
        for round_, posted in done:
            self._opened(round_, now)
            log.info(
                "ritual.opened",
                ritual=by_id[round_.ritual_id].name,
                round=round_.id,
                late=round_.late,
            )
            opened.append(
                replace(
                    round_,
                    status=RoundStatus.CLOSED if posted.closed else RoundStatus.OPEN,
                    prompt=posted.prompt,
                    message_id=posted.message_id,
                    remind_at=posted.remind_at,
                    closes_at=posted.closes_at,
                    closed_at=now if posted.closed else None,
                    next_attempt_at=None,
                    last_error=None,
                )
            )
        return opened

    def _due_slot(
        self,
        ritual: RitualView,
        now: datetime,
        last_slot: datetime | None,
        recent: dict[tuple[str, str, int, str | None], datetime | None] | None = None,
    ) -> datetime | None:
        """The latest slot at or before `now` not yet held. `recent` memoises, per
        schedule, its latest slot within RECENT of `now`: rituals sharing a schedule (a
        burst) compute it once; a ritual with no slot that recent scans further back."""
        not_before = ritual.created_at
        if last_slot is not None:
            not_before = max(not_before, last_slot + timedelta(microseconds=1))
        schedule = schedule_of(ritual)
        if recent is None:
            return schedule.latest_at_or_before(now, not_before)
        key = (ritual.cron, ritual.timezone, ritual.every_weeks, ritual.anchor)
        if key not in recent:
            recent[key] = schedule.latest_at_or_before(now, now - RECENT)
        latest = recent[key]
        if latest is None:
            return schedule.latest_at_or_before(now, not_before)
        return latest if latest >= not_before else None

    async def _post_only(
        self, ritual: RitualView, round_: RoundView, text: str, now: datetime
    ) -> tuple[RoundView, PostedPrompt] | None:
        """Post a new round's prompt; what to record, or None when it failed (the failure
        is recorded and the round retried later, as in `post_prompt`)."""
        posted = await self._send_prompt(ritual, round_, text, now)
        return None if posted is None else (round_, posted)

    async def _send_prompt(
        self,
        ritual: RitualView,
        round_: RoundView,
        text: str,
        now: datetime,
        *,
        maybe_posted: bool = False,
    ) -> PostedPrompt | None:
        """Post the prompt under the round's key; what to record, or None when it failed
        (recorded, with the time of the next try)."""
        kind = behaviour(ritual.kind)
        message = OutboundMessage(
            text,
            idempotency_key=f"ritual-round:{round_.id}:{round_.scheduled_for:%Y%m%dT%H%M%S}",
            maybe_posted=maybe_posted,
        )
        try:
            ref = await self.port_for(ritual).post(channel_of(ritual), message)
        except DeliveryError as exc:
            await self._failed(ritual, round_, exc, now)
            return None
        closes = now + timedelta(minutes=ritual.window_minutes)
        if round_.joint_round_id is not None:
            closes = joint_closes(ritual, round_.scheduled_for)
        remind_at = None
        if kind.collects_responses and ritual.reminder_percent:
            remind_at = now + (closes - now) * (ritual.reminder_percent / 100)
        return PostedPrompt(
            round_.id,
            text,
            ref.message_id,
            now,
            remind_at,
            closes,
            closed=not kind.collects_responses,
        )

    async def _failed(
        self, ritual: RitualView, round_: RoundView, exc: DeliveryError, now: datetime
    ) -> None:
        wait = exc.retry_after if isinstance(exc, RateLimited) else None
        retry_at = now + (
            timedelta(seconds=wait)
            if wait
            else retry_delay(round_.attempts, FIRST_RETRY, MAX_BACKOFF)
        )
        await self._store.mark_failed(round_.id, f"{type(exc).__name__}: {exc}", retry_at)
        self._metrics.ritual_rounds.labels("failed").inc()
        log.warning(
            "ritual.post_failed",
            ritual=ritual.name,
            error=str(exc),
            retry_at=retry_at.isoformat(),
        )

    def _opened(self, round_: RoundView, now: datetime) -> None:
        self._metrics.ritual_rounds.labels("late" if round_.late else "opened").inc()
        if not round_.manual:
            lateness = (now - round_.scheduled_for).total_seconds()
            self._metrics.ritual_lateness_seconds.observe(max(0.0, lateness))

    async def run_now(self, ritual: RitualView, now: datetime) -> RoundView | None:
        if self.held(ritual, await self.away()):
            raise InvalidInput(
                f"{ritual.name} is held: {UNINSTALLED}, so nothing can be posted there until "
                "the workspace adds Hearth back."
            )
        round_ = await self._store.create_round(ritual.id, now, now, manual=True)
        return None if round_ is None else await self.post_prompt(ritual, round_, now)

    async def post_prompt(
        self, ritual: RitualView, round_: RoundView, now: datetime, *, maybe_posted: bool = False
    ) -> RoundView | None:
        """Post the round's prompt. A retry (`maybe_posted`: an earlier try, perhaps by an
        instance that died before recording it, may have reached the platform) carries the
        round's key, so adapters that can find an earlier send return it instead."""
        text = round_.prompt or await self._prompt_text(ritual, round_)
        posted = await self._send_prompt(ritual, round_, text, now, maybe_posted=maybe_posted)
        if posted is None:
            return None
        await self._store.mark_opened(
            posted.round_id,
            posted.prompt,
            posted.message_id,
            posted.opened_at,
            posted.remind_at,
            posted.closes_at,
            closed=posted.closed,
        )
        self._opened(round_, now)
        log.info("ritual.opened", ritual=ritual.name, round=round_.id, late=round_.late)
        return await self._store.round(round_.id)

    async def _prompt_text(self, ritual: RitualView, round_: RoundView) -> str:
        kind = behaviour(ritual.kind)
        own = await self._store.community_prompts(ritual.community_id, ritual.kind)
        index = await self._store.next_prompt_index(ritual.id)
        if round_.joint_round_id is not None:  # the same question in every community
            own, index = [], round_.joint_round_id
        previous = [r for r in await self._store.rounds(ritual.id, 2) if r.id != round_.id]
        since = previous[0].scheduled_for if previous else ritual.created_at
        new: tuple[InsightView, ...] = ()
        siblings: tuple[tuple[str, InsightView], ...] = ()
        if not kind.collects_responses:
            new = tuple(await self._insights.since(ritual.community_id, since))
            if self._constellation_news is not None:
                siblings = tuple(await self._constellation_news(ritual.community_id, since))
        text = kind.prompt(
            PromptInputs(
                ritual,
                pick_prompt(list(own), ritual.kind, index),
                new,
                since,
                round_.late,
                siblings,
            )
        )
        if new and self._narrator is not None:
            story = await self._narrator(
                ritual.community_id, ritual.name, [i.title or i.body for i in new]
            )
            if story:
                text = f"{story}\n\n{text}"
        return text
