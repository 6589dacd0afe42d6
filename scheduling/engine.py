"""The ritual round lifecycle: open → (remind) → close → synthesis, each step exactly once.

Every method takes `now` and reads the store, so it is idempotent and needs no memory of
its own: APScheduler only decides *when* to call it, a restart just calls it again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Protocol

import structlog

from bot.events import ChannelRef, MessageRef
from bot.ops.metrics import Metrics
from bot.port import DeliveryError, OutboundMessage, OutboundPort, RateLimited, Transient
from bot.retry import retry_delay
from knowledge.insights import InsightStore
from knowledge.rituals import (
    NewRound,
    OpenedRound,
    PostedPrompt,
    RitualStore,
    RitualView,
    RoundView,
)
from knowledge.views import InsightView
from knowledge.vocabulary import RoundStatus
from scheduling.kinds import PromptInputs, behaviour
from scheduling.prompts import pick_prompt
from scheduling.schedule import Schedule

log = structlog.get_logger(__name__)

ON_TIME = timedelta(minutes=1)  # later than this after its slot, a prompt says it is late
FIRST_RETRY = timedelta(seconds=15)  # a prompt that failed to post: then doubling
MAX_BACKOFF = timedelta(minutes=30)
RECENT = timedelta(days=2)  # see RitualEngine._due_slot
POSTS_IN_FLIGHT = 16  # prompts of one burst posted at once (platforms rate-limit anyway)


class Scheduled(Protocol):
    """What a schedule is made of (a saved ritual, or one still being previewed)."""

    @property
    def cron(self) -> str: ...
    @property
    def timezone(self) -> str: ...
    @property
    def every_weeks(self) -> int: ...
    @property
    def anchor(self) -> str | None: ...
    @property
    def schedule_text(self) -> str: ...


def schedule_of(ritual: Scheduled) -> Schedule:
    return Schedule(
        cron=ritual.cron,
        timezone=ritual.timezone,
        every_weeks=ritual.every_weeks,
        anchor=date.fromisoformat(ritual.anchor) if ritual.anchor else None,
        description=ritual.schedule_text,
    )


def channel_of(ritual: RitualView) -> ChannelRef:
    return ChannelRef(ritual.platform, ritual.space, ritual.channel)


class Unknown:
    """Marks an argument the caller did not supply (None is a meaningful value)."""


UNKNOWN = Unknown()

Narrator = Callable[[int, str, list[str]], Awaitable[str | None]]
"""(community id, ritual name, texts) -> a short narrative paragraph, or None."""

ConstellationNews = Callable[[int, datetime], Awaitable[list[tuple[str, InsightView]]]]
"""(community id, since) -> siblings' insights shared since then, as (community, insight)."""


class RitualEngine:
    def __init__(
        self,
        store: RitualStore,
        insights: InsightStore,
        ports: Mapping[str, OutboundPort],
        grace: timedelta,
        metrics: Metrics,
        *,
        narrator: Narrator | None = None,
        constellation_news: ConstellationNews | None = None,
    ) -> None:
        """`narrator`: syntheses told as a story (assist); `constellation_news`: siblings'
        newly shared insights, for digests."""
        self._metrics = metrics
        self._store = store
        self._insights = insights
        self._ports = ports
        self._grace = grace
        self._narrator = narrator
        self._constellation_news = constellation_news

    # opening -------------------------------------------------------------------------

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
        if now - slot > self._grace:
            missed = await self._store.create_round(ritual.id, slot, now, status=RoundStatus.MISSED)
            if missed is not None:
                self._metrics.ritual_rounds.labels("missed").inc()
            log.warning("ritual.missed", ritual=ritual.name, slot=slot.isoformat())
            return None
        round_ = await self._store.create_round(ritual.id, slot, now, late=now - slot > ON_TIME)
        if round_ is None:
            return None  # another process (or an earlier call) owns this slot
        return await self._post_prompt(ritual, round_, now)

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
        for ritual in rituals:
            if ritual.paused:
                continue
            if ritual.skip_next or not behaviour(ritual.kind).collects_responses:
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
        is recorded and the round retried later, as in `_post_prompt`)."""
        kind = behaviour(ritual.kind)
        message = OutboundMessage(
            text,
            idempotency_key=f"ritual-round:{round_.id}:{round_.scheduled_for:%Y%m%dT%H%M%S}",
        )
        try:
            ref = await self._port(ritual).post(channel_of(ritual), message)
        except DeliveryError as exc:
            await self._failed(ritual, round_, exc, now)
            return None
        window = timedelta(minutes=ritual.window_minutes)
        remind_at = None
        if kind.collects_responses and ritual.reminder_percent:
            remind_at = now + window * (ritual.reminder_percent / 100)
        posted = PostedPrompt(
            round_.id,
            text,
            ref.message_id,
            now,
            remind_at,
            now + window,
            closed=not kind.collects_responses,
        )
        return round_, posted

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
        round_ = await self._store.create_round(ritual.id, now, now, manual=True)
        return None if round_ is None else await self._post_prompt(ritual, round_, now)

    async def _post_prompt(
        self, ritual: RitualView, round_: RoundView, now: datetime, *, maybe_posted: bool = False
    ) -> RoundView | None:
        """Post the round's prompt. A retry (`maybe_posted`: an earlier try, perhaps by an
        instance that died before recording it, may have reached the platform) carries the
        round's key, so adapters that can find an earlier send return it instead."""
        kind = behaviour(ritual.kind)
        try:
            text = round_.prompt or await self._prompt_text(ritual, round_)
            message = OutboundMessage(
                text,
                idempotency_key=f"ritual-round:{round_.id}:{round_.scheduled_for:%Y%m%dT%H%M%S}",
                maybe_posted=maybe_posted,
            )
            ref = await self._port(ritual).post(channel_of(ritual), message)
        except DeliveryError as exc:
            await self._failed(ritual, round_, exc, now)
            return None
        window = timedelta(minutes=ritual.window_minutes)
        remind_at = None
        if kind.collects_responses and ritual.reminder_percent:
            remind_at = now + window * (ritual.reminder_percent / 100)
        await self._store.mark_opened(
            round_.id,
            text,
            ref.message_id,
            now,
            remind_at,
            now + window,
            closed=not kind.collects_responses,
        )
        self._opened(round_, now)
        log.info("ritual.opened", ritual=ritual.name, round=round_.id, late=round_.late)
        return await self._store.round(round_.id)

    async def _prompt_text(self, ritual: RitualView, round_: RoundView) -> str:
        kind = behaviour(ritual.kind)
        own = await self._store.community_prompts(ritual.community_id, ritual.kind)
        index = await self._store.next_prompt_index(ritual.id)
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

    # everything after opening --------------------------------------------------------

    async def process_due(self, now: datetime) -> int:
        """Retry posts, send reminders, close rounds, refresh syntheses; returns steps done."""
        done = 0
        for round_ in await self._store.due(now):
            ritual = await self._store.by_id(round_.ritual_id)
            if ritual is None:
                continue
            if round_.status is RoundStatus.PENDING:
                if await self._store.claim_pending(round_.id, now):
                    retry = await self._post_prompt(ritual, round_, now, maybe_posted=True)
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
        return done

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
            port = self._port(ritual)
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
            await self._port(ritual).post(
                channel, OutboundMessage(text), thread=MessageRef(channel, round_.message_id)
            )
        except DeliveryError as exc:
            log.warning("ritual.reminder_failed", ritual=ritual.name, error=str(exc))

    def _port(self, ritual: RitualView) -> OutboundPort:
        port = self._ports.get(ritual.platform)
        if port is None:
            raise Transient(f"no {ritual.platform} adapter is running")
        return port
