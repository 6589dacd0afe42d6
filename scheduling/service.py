"""The rituals service: store + engine + timer, started and stopped with Hearth."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import structlog

from bot.events import ChannelRef, MessageDeleted, MessageEdited, MessagePosted, MessageRef
from bot.ops.metrics import Metrics
from bot.port import OutboundMessage, OutboundPort
from knowledge.clock import Clock
from knowledge.directory import Directory
from knowledge.errors import InvalidInput
from knowledge.insights import InsightStore
from knowledge.rituals import RitualStore, RitualView, RoundView
from knowledge.vocabulary import RoundStatus
from scheduling.engine import ConstellationNews, Narrator, RitualEngine
from scheduling.engine_base import JointNarrator
from scheduling.timer import RitualTimer

log = structlog.get_logger(__name__)

FIRE_RETRY = timedelta(seconds=30)
FIRE_BATCH = 1000  # rituals opened together at most (one transaction to create them)
CONCURRENT_JOBS = 8  # below the connection pool's 15, so jobs never wait for a connection


class Rituals:
    def __init__(
        self,
        store: RitualStore,
        insights: InsightStore,
        directory: Directory,
        clock: Clock,
        grace: timedelta,
        metrics: Metrics,
        *,
        use_timer: bool = True,
        reconcile: timedelta = timedelta(seconds=5),
        narrator: Narrator | None = None,
        constellation_news: ConstellationNews | None = None,
        joint_narrator: JointNarrator | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self._directory = directory
        self._ports: dict[str, OutboundPort] = {}
        self.engine = RitualEngine(
            store,
            insights,
            self._ports,
            grace,
            metrics,
            narrator=narrator,
            constellation_news=constellation_news,
            joint_narrator=joint_narrator,
        )
        self._timer = (
            RitualTimer(self._fire, self._sweep, grace, clock, self._reconcile, reconcile)
            if use_timer
            else None
        )
        # Timer jobs run a few at a time (a post can take a platform round trip; each step
        # is claimed in the store, so overlap is safe) and never after stop(): shutting
        # down waits for them instead of cancelling one half-way through a transaction.
        self._slots = asyncio.Semaphore(CONCURRENT_JOBS)
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._stopped = False
        self._firing: dict[int, asyncio.Future[None]] = {}  # fired, not yet in a batch
        self._firer: asyncio.Task[None] | None = None

    def attach(self, port: OutboundPort) -> None:
        self._ports[port.platform] = port

    async def start(self) -> None:
        """Rebuild jobs from the store and catch up on what fell due while we were down."""
        if self._timer is not None:
            self._timer.start(await self.store.schedules())
        await self.tick()

    async def stop(self) -> None:
        self._stopped = True
        await self._idle.wait()
        if self._timer is not None:
            self._timer.stop()

    @contextlib.asynccontextmanager
    async def _job(self) -> AsyncIterator[bool]:
        """Run a timer job unless stopping; yields False when it should do nothing."""
        if self._stopped:
            yield False
            return
        async with self._slots:
            self._in_flight += 1
            self._idle.clear()
            try:
                yield not self._stopped
            finally:
                self._in_flight -= 1
                if self._in_flight == 0:
                    self._idle.set()

    async def tick(self) -> None:
        """Everything due now, for every ritual: used at start-up and by tests."""
        now = self.clock.now()
        last_slots = await self.store.last_slots()
        await self.engine.open_due_many(await self.store.rituals(), now, last_slots)
        await self.engine.process_due(now)
        await self._arm()

    async def _fire(self, ritual_id: int) -> None:
        """A ritual's timer job: join the next batch of firings and wait for it.

        Jobs due together (a burst at the top of the hour) are opened together: the
        first waiting job starts a batch that takes every ritual fired so far, and
        jobs firing meanwhile form the next one (see `RitualEngine.open_due_many`)."""
        if self._stopped:
            return
        waiter = self._firing.get(ritual_id)
        if waiter is None:
            waiter = self._firing[ritual_id] = asyncio.get_running_loop().create_future()
        if self._firer is None or self._firer.done():
            self._firer = asyncio.get_running_loop().create_task(self._fire_batches())
        await asyncio.shield(waiter)

    async def _fire_batches(self) -> None:
        async with self._job() as go:
            while go and self._firing and not self._stopped:
                ids = list(self._firing)[:FIRE_BATCH]
                waiters = [self._firing.pop(i) for i in ids]
                try:
                    await self._fire_batch(ids)
                finally:
                    for waiter in waiters:
                        if not waiter.done():
                            waiter.set_result(None)
            for waiter in self._firing.values():  # stopping: the next start catches up
                if not waiter.done():
                    waiter.set_result(None)
            if not go or self._stopped:
                self._firing.clear()

    async def _fire_batch(self, ritual_ids: list[int]) -> None:
        try:
            rituals = await self.store.by_ids(ritual_ids)
            last_slots = await self.store.last_slots([r.id for r in rituals])
            opened = await self.engine.open_due_many(rituals, self.clock.now(), last_slots)
        except Exception:
            # No slot is lost: open_due picks up the latest unheld slot, so a retry
            # (within the grace period) still opens each exactly once.
            log.exception("ritual.fire_failed", rituals=len(ritual_ids))
            if self._timer is not None:
                for ritual_id in ritual_ids:
                    self._timer.retry(ritual_id, self.clock.now() + FIRE_RETRY)
            return
        if self._timer is not None and opened:
            self._timer.wake_by(min(r.remind_at or r.closes_at or self.clock.now() for r in opened))

    async def _sweep(self) -> None:
        async with self._job() as go:
            if not go:
                return
            await self.engine.process_due(self.clock.now())
            await self._arm()

    async def _reconcile(self) -> None:
        """Pick up rituals created, changed or removed through other instances."""
        async with self._job() as go:
            if go and self._timer is not None:
                self._timer.reconcile(await self.store.schedules())

    async def _arm(self) -> None:
        if self._timer is not None:
            self._timer.wake_at(await self.store.next_deadline())

    # changes made by commands --------------------------------------------------------

    def changed(self, ritual: RitualView) -> None:
        if self._timer is not None:
            self._timer.schedule(ritual)

    def next_run(self, ritual_id: int) -> datetime | None:
        """When this instance's timer fires the ritual next (None: no job here)."""
        return None if self._timer is None else self._timer.next_run(ritual_id)

    def removed(self, ritual_id: int) -> None:
        if self._timer is not None:
            self._timer.unschedule(ritual_id)

    async def run_now(self, ritual: RitualView) -> RoundView | None:
        round_ = await self.engine.run_now(ritual, self.clock.now())
        await self._arm()
        return round_

    async def answer_anonymously(
        self, ritual: RitualView, member_id: int, message_id: str, text: str
    ) -> RoundView:
        """Record a privately sent answer and show it in the round's thread without a name."""
        round_ = await self.store.last_round(ritual.id)
        if round_ is None or round_.status not in (RoundStatus.OPEN, RoundStatus.CLOSED):
            raise InvalidInput(f"No round of {ritual.name} is open right now.")
        late = round_.status is RoundStatus.CLOSED
        added = await self.store.add_response(
            round_.id, message_id, member_id, text, anonymous=True, late=late
        )
        if added and round_.message_id is not None:
            port = self._ports.get(ritual.platform)
            if port is None:
                raise InvalidInput("I cannot reach that channel right now; try again later.")
            channel = ChannelRef(ritual.platform, ritual.space, ritual.channel)
            await port.post(
                channel,
                OutboundMessage(f"🙈 Anonymous response: {text}"),
                thread=MessageRef(channel, round_.message_id),
            )
            if late:
                await self.store.mark_synthesis(round_.id, None, stale=True)
                await self.engine.synthesize(ritual, round_.id, self.clock.now())
        return round_

    # replies in a round's thread -----------------------------------------------------

    async def message_posted(self, event: MessagePosted) -> bool:
        """Record a reply to a round's prompt as a response; True if it was one."""
        message = event.message
        parent = event.reply_to or (
            MessageRef(message.ref.channel, message.ref.thread_id)
            if message.ref.thread_id
            else None
        )
        if parent is None:
            return False
        channel = parent.channel
        found = await self.store.round_for_prompt(
            channel.platform, channel.space, channel.channel, parent.message_id
        )
        if found is None:
            return False
        ritual, round_ = found
        if round_.status not in (RoundStatus.OPEN, RoundStatus.CLOSED):
            return False
        member = await self._directory.resolve_member(
            ritual.community_id,
            message.author.platform,
            message.author.user_id,
            message.author.display_name,
        )
        late = round_.status is RoundStatus.CLOSED
        added = await self.store.add_response(
            round_.id,
            message.ref.message_id,
            member.id,
            message.text,
            anonymous=ritual.anonymous,
            late=late,
        )
        if added and late:
            await self.store.mark_synthesis(round_.id, None, stale=True)
            await self.engine.synthesize(ritual, round_.id, self.clock.now())
        log.info("ritual.response", ritual=ritual.name, round=round_.id, late=late)
        return added

    async def message_edited(self, event: MessageEdited) -> None:
        await self._follow(event.ref, text=event.text)

    async def message_deleted(self, event: MessageDeleted) -> None:
        await self._follow(event.ref, deleted=True)

    async def _follow(
        self, ref: MessageRef, *, text: str | None = None, deleted: bool = False
    ) -> None:
        channel = ref.channel
        round_id = await self.store.respondent_round_for(
            channel.platform, channel.space, channel.channel, ref.message_id
        )
        if round_id is None:
            return
        await self.store.change_response(
            round_id, ref.message_id, text=text, deleted_at=self.clock.now() if deleted else None
        )
        round_ = await self.store.round(round_id)
        if round_ is not None and round_.status is RoundStatus.CLOSED:
            ritual = await self.store.by_id(round_.ritual_id)
            if ritual is not None:
                await self.store.mark_synthesis(round_id, None, stale=True)
                await self.engine.synthesize(ritual, round_id, self.clock.now())
