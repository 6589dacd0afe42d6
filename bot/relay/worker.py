"""The outbox worker: delivers queued relays, retries with backoff, parks and reports.

What a failure means is decided here, once, from the port's typed errors:
rate limited → wait the platform's Retry-After (not a failure); transient → exponential
backoff with jitter, parked after `max_failures` (another deployment that is down also
only once its oldest waiting message is `remote_retry_hours` old); forbidden or a vanished
target channel → parked at once (a person must act); an edit or deletion whose copy is gone → done.
A parked item is reported once in the thread it came from, and holds its lane (later
messages to that channel wait, in order) until `/relay retry`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from datetime import datetime, timedelta

import structlog

from bot.config_features import RelayConfig
from bot.events import ChannelRef, MessageRef
from bot.ops.metrics import Metrics
from bot.port import (
    DeliveryError,
    Forbidden,
    HostDown,
    OutboundMessage,
    OutboundPort,
    RateLimited,
    TargetGone,
)
from bot.relay.payload import outbound
from bot.relay.service import Relays
from bot.retry import retry_delay
from knowledge.clock import Clock
from knowledge.links import LinkStore
from knowledge.outbox import Claimed, Outbox
from knowledge.relays import Participant
from knowledge.vocabulary import LinkStatus, OutboxStatus

log = structlog.get_logger(__name__)

POLL_SECONDS = 5.0  # other processes' items and due retries are looked for this often
PAUSE_RECHECK = timedelta(minutes=10)  # resuming a link also makes its items due at once
NO_ADAPTER_RETRY = timedelta(seconds=30)


class OutboxWorker:
    def __init__(
        self,
        outbox: Outbox,
        relays: Relays,
        links: LinkStore,
        clock: Clock,
        config: RelayConfig,
        metrics: Metrics,
        background: bool = True,
        rng: random.Random | None = None,
    ) -> None:
        """`background=False` (tests): nothing runs by itself; callers `drain()`."""
        self._metrics = metrics
        self.outbox = outbox
        self._relays = relays
        self._links = links
        self._clock = clock
        self._config = config
        self._rng = rng or random.Random()
        self._task: asyncio.Task[None] | None = None
        self._background = background
        self._handed: list[Claimed] = []  # see `_take_handed`
        self._handed_ready = asyncio.Event()

    # running -------------------------------------------------------------------------

    def start(self) -> None:
        if not self._background:
            return
        self._task = asyncio.create_task(self._run(), name="relay-outbox")
        self._relays.hand_off = self._take_handed

    async def stop(self) -> None:
        if self._relays.hand_off == self._take_handed:
            self._relays.hand_off = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._handed:  # written claimed for this worker, never started: free them now
            items, self._handed = self._handed, []
            with contextlib.suppress(Exception):  # else their lease runs out, as after a crash
                await self.outbox.release([item.id for item in items])

    def _take_handed(self, items: list[Claimed]) -> None:
        """New copies written already claimed for this worker: deliver them next."""
        self._handed.extend(items)
        self._handed_ready.set()

    async def _run(self) -> None:
        """Deliver handed copies at once; claim rounds when woken, when something is due,
        and every POLL_SECONDS (other processes' items, retries that came due)."""
        freed = await self.outbox.release_dead_claims()
        if freed:
            log.info("relay.claims_recovered", items=freed)
        loop = asyncio.get_running_loop()
        wake = self._relays.wake
        look = True  # a claim round first
        deadline = loop.time()
        while True:
            if self._handed:
                items, self._handed = self._handed, []
                outcomes = await asyncio.gather(*(self._deliver(item) for item in items))
                look = look or not all(outcomes)  # a retry to schedule, a notice to send
                continue
            if look or wake.is_set() or loop.time() >= deadline:
                wake.clear()
                look = False
                wait = POLL_SECONDS
                try:
                    if await self.deliver_due():
                        look = True
                        continue
                    due = await self.outbox.next_due()
                    # what is due now but was not claimed waits behind its lane or is
                    # another process's: a wake or the poll brings it, not a busy loop
                    if due is not None and due > self._clock.now():
                        wait = min(POLL_SECONDS, (due - self._clock.now()).total_seconds())
                except Exception:  # the database hiccuped: keep the worker alive, try again
                    log.exception("relay.worker_failed")
                deadline = loop.time() + wait
            self._handed_ready.clear()
            if self._handed or wake.is_set():
                continue
            waiters = [
                asyncio.ensure_future(wake.wait()),
                asyncio.ensure_future(self._handed_ready.wait()),
            ]
            try:
                await asyncio.wait(
                    waiters,
                    timeout=max(0.0, deadline - loop.time()),
                    return_when=asyncio.FIRST_COMPLETED,
                )
            finally:
                for waiter in waiters:
                    waiter.cancel()

    async def drain(self) -> int:
        """Deliver everything due now (and what that makes due); returns how many."""
        total = 0
        while delivered := await self.deliver_due():
            total += delivered
        return total

    async def deliver_due(self) -> int:
        """One round: claim what is due (at most one per lane) and deliver it."""
        items = await self.outbox.claim(self._clock.now())
        if items:
            await asyncio.gather(*(self._deliver(item) for item in items))
        return len(items)

    # one item ------------------------------------------------------------------------

    async def _deliver(self, item: Claimed) -> bool:
        """True when delivered."""
        now = self._clock.now()
        if item.link_id is not None:
            if item.link_status != LinkStatus.ACTIVE:
                await self.outbox.settle(item, OutboxStatus.CANCELLED, "the link was left")
                return False
            if item.link_paused:
                await self.outbox.retry_at(item, now + PAUSE_RECHECK, "paused", failure=False)
                return False
        port = self._relays.ports.get(item.target.platform)
        if port is None:  # this process does not run that platform; another may
            await self.outbox.retry_at(
                item, now + NO_ADAPTER_RETRY, f"no {item.target.platform} adapter", failure=False
            )
            return False
        try:
            copy_id = await self._perform(port, item)
        except RateLimited as exc:
            at = now + timedelta(seconds=exc.retry_after + self._rng.uniform(0, 0.5))
            await self.outbox.retry_at(item, at, str(exc), failure=False)
        except TargetGone as exc:
            await self._target_gone(item, exc)
        except Forbidden as exc:
            await self._park(item, f"not allowed: {exc}")
        except Exception as exc:  # Transient, or anything unexpected: back off and retry
            reason = str(exc) if isinstance(exc, DeliveryError) else repr(exc)
            if self._gives_up(item, exc, now):
                await self._park(item, reason)
            else:
                await self.outbox.retry_at(item, now + self._backoff(item.failures), reason)
                self._metrics.relay_deliveries.labels(item.target.platform, "retry").inc()
                log.info("relay.retry", item=item.id, failures=item.failures + 1, error=reason)
        else:
            delivered_at = self._clock.now()
            await self.outbox.delivered(item, copy_id, delivered_at)
            platform = item.target.platform
            self._metrics.relay_deliveries.labels(platform, "delivered").inc()
            if item.queued_at is not None and item.attempts == 1:
                waited = (delivered_at - item.queued_at).total_seconds()
                self._metrics.relay_delivery_seconds.labels(platform).observe(max(0.0, waited))
            return True
        return False

    async def _perform(self, port: OutboundPort, item: Claimed) -> str | None:
        target = item.target
        channel = ChannelRef(target.platform, target.space, target.channel)
        thread = None
        if target.anchor_id is not None:
            thread = MessageRef(channel, target.anchor_id, thread_id=target.anchor_id)
        if item.operation == "notice":
            message = OutboundMessage(str(item.payload["text"]), idempotency_key=item.key)
            posted = await port.post(channel, message, thread=thread)
            return posted.message_id
        message = outbound(item.payload, item.key, item.maybe_posted)
        if item.operation == "post":
            if item.is_root:
                thread = None
            elif thread is None:
                raise TargetGone("the thread's first message never arrived there")
            posted = await port.post(channel, message, thread=thread)
            return posted.message_id
        if item.copy_id is None:
            raise TargetGone("its copy was never delivered")
        ref = MessageRef(channel, item.copy_id, thread_id=target.anchor_id)
        if item.operation == "edit":
            await port.edit(ref, message)
        elif item.operation == "delete":
            await port.delete(ref)
        return None

    def _gives_up(self, item: Claimed, exc: Exception, now: datetime) -> bool:
        """Parked after `max_failures` tries; a deployment that is down also not before
        its oldest waiting message is `remote_retry_hours` old (a weekend's outage is
        waited out, with backoff capped at `max_backoff_seconds`)."""
        if item.failures + 1 < self._config.max_failures:
            return False
        if not isinstance(exc, HostDown) or item.queued_at is None:
            return True
        return now - item.queued_at >= timedelta(hours=self._config.remote_retry_hours)

    def _backoff(self, failures: int) -> timedelta:
        first = timedelta(seconds=self._config.backoff_seconds)
        return retry_delay(
            failures, first, timedelta(seconds=self._config.max_backoff_seconds), self._rng
        )

    async def _target_gone(self, item: Claimed, exc: TargetGone) -> None:
        if item.operation == "delete":  # already gone is what we wanted
            await self.outbox.delivered(item, None, self._clock.now())
        elif item.operation in ("edit", "notice"):
            await self.outbox.settle(item, OutboxStatus.FAILED, f"gone: {exc}")
        elif item.is_root or item.target.anchor_id is not None:
            await self._park(item, f"the channel or thread is gone: {exc}")
        else:
            await self.outbox.settle(item, OutboxStatus.FAILED, f"gone: {exc}")

    async def _park(self, item: Claimed, reason: str) -> None:
        """Stop trying and say so once, where the message was written."""
        await self.outbox.settle(item, OutboxStatus.PARKED, reason)
        self._metrics.relay_deliveries.labels(item.target.platform, "parked").inc()
        log.warning("relay.parked", item=item.id, target=item.target.channel, error=reason)
        if item.operation == "notice":
            return
        origin = await self._origin(item)
        if origin is None:
            return
        link = await self._links.get(item.link_id) if item.link_id is not None else None
        sibling = link.other(origin.community_id) if link is not None else None
        name, slug = (sibling.name, sibling.slug) if sibling else ("a sibling", "")
        text = (
            f"⚠️ I could not relay this to **{name}**: {reason}. Later messages to them wait, "
            f"in order, and nothing is lost. A steward can run `/relay retry {slug}` once "
            "that is fixed; `/relay status` shows every link."
        )
        await self._relays.store.notice(origin, f"notice:parked:{item.id}", text, self._clock.now())
        self._relays.wake.set()

    async def _origin(self, item: Claimed) -> Participant | None:
        if item.relay_message_id is None:
            return None
        participants = await self._relays.store.participants(item.target.relay_thread_id)
        source_id = await self._relays.store.source_participant(item.relay_message_id)
        return next((p for p in participants if p.id == source_id), None)
