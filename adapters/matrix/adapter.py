"""The Matrix adapter: one nio client, a sync loop, room events → neutral events.

Why our own sync loop rather than nio's `sync_forever`: the `next_batch` token must be
saved *after* the batch it ends was handled, in the store (`SyncTokens`), so a restart
neither replays old events nor misses those sent while Hearth was down. The first sync
after a restart asks for full state (nio keeps no store: names and power levels would be
unknown otherwise); the very first sync of a new install only joins pending invites and
saves the token, so a room's history is never replayed. A gap (`limited` timeline) is
back-filled with `/messages` down to the saved token.

Each event is taken in the InboundLog (`sync:<event id>`) before it is handled; the
batch's events are marked done together with its token, in one transaction (a command is
also done on its own key once its reply was sent), so a batch redelivered after a crash
is not handled twice, and an event whose taker died (a kill -9 mid-command) is handled by
the restarted process at once (handlers are idempotent). A batch that fails part-way
marks what it handled done at once. A batch with nothing for Hearth (its own copies,
receipts, the watchdog's probe) saves no token: replaying it after a restart is harmless.
An event another live Hearth is handling is waited for (`IN_FLIGHT_WAIT`), never passed:
the token is saved only after every event of its batch is done, else the batch is synced
again. A command's reply goes out under a transaction id derived from the command's event
id, so a re-run after a crash between sending and marking done is answered by Synapse
with the first reply, not a second one.

What an event means is events.py's job; whether the sync still flows, watchdog.py's.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import structlog
from nio import AsyncClient, SyncResponse  # type: ignore[import-untyped]
from nio.api import MessageDirection  # type: ignore[import-untyped]

from adapters.matrix import e2e
from adapters.matrix.content import PLATFORM, thread_root
from adapters.matrix.errors import check
from adapters.matrix.events import MatrixEvents
from adapters.matrix.media import MediaLinks
from adapters.matrix.watchdog import Watchdog
from bot.config_matrix import MatrixConfig
from bot.events import ChannelRef
from bot.faults import crash_point
from bot.inbound import EventLog, Inbound, SyncPositions
from bot.ops.server import OpsServer
from bot.port import Changes, DeliveryError
from bot.retry import Backoff

log = structlog.get_logger(__name__)

TIMELINE_LIMIT = 100
# What the sync asks for: room timelines (and state), and account data (the watchdog's
# probe). Presence and rooms' typing notices and read receipts are never used: without
# this filter each one woke the sync loop and was parsed (CPU per event, issue #17).
SYNC_FILTER = {
    "presence": {"not_types": ["*"]},
    "room": {"timeline": {"limit": TIMELINE_LIMIT}, "ephemeral": {"not_types": ["*"]}},
}
SYNC_REPLAYS = "sync"  # relay catch-up's saved position: a complete pass, then the sync
IN_FLIGHT_WAIT = 30.0  # seconds to wait for another live instance handling an event


class _SyncRestarted(Exception):
    """The watchdog cancelled a long poll that had stalled: poll again at once."""


class MatrixAdapter(MatrixEvents):
    """Adapter protocol (`connect`/`start`/`wait_closed`/`stop`) plus the outbound port."""

    def __init__(
        self,
        config: MatrixConfig,
        inbound_log: EventLog,
        sync_tokens: SyncPositions,
        *,
        client: AsyncClient | None = None,
        server: OpsServer | None = None,
        public_url: Callable[[], str] | None = None,
    ) -> None:
        client = client or AsyncClient(
            config.homeserver.rstrip("/"),
            config.user_id,
            device_id=config.device_id or None,
            store_path=str(e2e.store_dir(config)) if e2e.wanted(config) else "",
            config=e2e.client_config(
                config, max_limit_exceeded=5, max_timeouts=3, request_timeout=30
            ),
        )
        super().__init__(client, config, inbound_log)
        if server is not None:  # relayed attachments link to the media proxy (media.py)
            self.media = MediaLinks(client, public_url)
            self.media.mount(server)
        self._tokens = sync_tokens
        self._since: str | None = None
        self._resumed = False  # connect() found a saved sync token
        self._first_sync = True
        self._handled_any = False  # the batch being handled had an event or invite for us
        self._done: list[str] = []  # event ids the batch has handled, to mark done with it
        self._warned: set[str] = set()  # rooms told (this run) that encryption is unsupported
        self._loop: asyncio.Task[None] | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._waiting: asyncio.Future[Any] | None = None
        self._restart = False  # the watchdog cancelled the long poll in flight
        self._last_sync: float | None = None  # loop.time() of the last sync response
        self._stopping = asyncio.Event()
        self._closed = asyncio.Event()
        self.on_received: Callable[[str], None] | None = None  # every event id delivered
        self.on_handled: Callable[[str], None] | None = None  # event ids, for tests/metrics
        self.on_synced: Callable[[str], None] | None = None  # next_batch tokens, likewise
        self.on_sync_failed: Callable[[], None] | None = None  # each failed sync, likewise
        self.on_probed: Callable[[float], None] | None = None  # probe round trips (seconds)
        self.on_stalled: Callable[[float], None] | None = None  # seconds since the last sync
        self._prober = Watchdog(
            client,
            config.watchdog_interval_seconds,
            config.watchdog_timeout_seconds,
            self._stopping,
            self._stalled,
            self._report_probe,
        )

    # lifecycle -----------------------------------------------------------------------

    async def connect(self) -> None:
        """Log in (or restore the token) and check it, so a bad one fails at start-up."""
        await e2e.sign_in(self.client, self.config)
        await self.e2e.upkeep()  # a new device's keys go up before the first sync
        await self.directs.load()
        self._since = await self._tokens.get(PLATFORM, self._key)
        self._resumed = self._since is not None
        log.info("matrix.connected", user=self.client.user_id, resuming=self._resumed)

    async def changes_since(self, position: str | None) -> Changes:
        """Relay catch-up re-reads nothing when the sync resumes from a saved token and
        the last catch-up pass completed: that sync replays every event sent meanwhile
        (gaps back-filled), edits and redactions included, through the live path. With no
        token, or a pass still owed (never completed, or interrupted), it cannot tell."""
        skip = self._resumed and position == SYNC_REPLAYS
        return Changes(SYNC_REPLAYS, frozenset() if skip else None)

    @property
    def _key(self) -> str:
        return self.config.user_id

    async def start(self, inbound: Inbound) -> None:
        self.inbound = inbound
        self._loop = asyncio.create_task(self._run(), name="matrix-sync")
        if self.config.watchdog_interval_seconds > 0:
            self._watchdog = asyncio.create_task(self._prober.run(), name="matrix-watchdog")

    async def readiness(self) -> str | None:
        lag = self.sync_lag()
        if self._closed.is_set():
            return "the Matrix sync loop has stopped"
        if lag is None:
            return "no sync with the homeserver yet"
        limit = self.config.sync_timeout_seconds + self.config.watchdog_timeout_seconds
        if lag > limit:
            return f"no sync with the homeserver for {lag:.0f} s"
        return None

    def sync_lag(self) -> float | None:
        """Seconds since the last sync response (None before the first)."""
        if self._last_sync is None:
            return None
        return asyncio.get_running_loop().time() - self._last_sync

    async def wait_closed(self) -> None:
        await self._closed.wait()

    async def stop(self) -> None:
        """Stop after the batch being handled (never half-way through an event)."""
        self._stopping.set()
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
            self._watchdog = None
        if self._waiting is not None:
            self._waiting.cancel()
        if self._loop is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
            self._loop = None
        await self.client.close()
        self._closed.set()

    # the sync loop -------------------------------------------------------------------

    async def _run(self) -> None:
        ceiling = timedelta(seconds=self.config.max_backoff_seconds)
        backoff = Backoff(min(timedelta(seconds=1), ceiling), ceiling)
        while not self._stopping.is_set():
            try:
                response = await self._sync()
                if response is None:
                    break
                self._last_sync = asyncio.get_running_loop().time()
                self._prober.saw(response)
                await self.e2e.upkeep()
                self.directs.saw(response)
                self._handled_any = False
                await self._batch(response)
                crash_point("matrix.before_token_save")
                if self._handled_any or self._first_sync or self._since is None:
                    # the batch's events are marked done with the token, in one transaction
                    done = [f"sync:{event_id}" for event_id in self._done]
                    await self._tokens.put(PLATFORM, self._key, response.next_batch, done=done)
                    self._report_handled()
                # else nothing in it was for Hearth (its own copies, receipts, the probe):
                # a restart from the saved token replays only such events, skipped again
                self._since, self._first_sync = response.next_batch, False
                if self.on_synced is not None:
                    self.on_synced(response.next_batch)
                backoff.succeeded()
            except _SyncRestarted:
                continue
            except Exception as exc:
                await self._flush_done()
                wait = backoff.failed()
                log.warning("matrix.sync_failed", error=repr(exc), retry_in=wait)
                if self.on_sync_failed is not None:
                    self.on_sync_failed()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), wait)

    async def _sync(self) -> SyncResponse | None:
        """One long poll, cancellable by `stop()`; None when stopping."""
        timeout = 0 if self._first_sync else int(self.config.sync_timeout_seconds * 1000)
        self._waiting = asyncio.ensure_future(
            self.client.sync(
                timeout=timeout,
                sync_filter=SYNC_FILTER,
                since=self._since,
                full_state=self._first_sync and self._since is not None,
            )
        )
        try:
            response = await self._waiting
        except asyncio.CancelledError:
            if self._stopping.is_set():
                return None
            if self._restart:
                self._restart = False
                raise _SyncRestarted() from None
            raise
        finally:
            self._waiting = None
        if not isinstance(response, SyncResponse):
            check(response)
            raise DeliveryError(f"sync failed: {response}")
        return response

    def _report_probe(self, seconds: float) -> None:
        if self.on_probed is not None:
            self.on_probed(seconds)

    def _stalled(self, waited: float) -> None:
        """Log the stall and start the long poll again (the token is kept)."""
        now = asyncio.get_running_loop().time()
        stalled_for = now - self._last_sync if self._last_sync is not None else waited
        polling = self._waiting is not None and not self._waiting.done()
        log.warning(
            "matrix.stalled",
            stalled_for=round(stalled_for, 1),
            probe_waited=round(waited, 1),
            restarting=polling or self._loop is None or self._loop.done(),
        )
        if self.on_stalled is not None:
            self.on_stalled(stalled_for)
        if self._loop is None or self._loop.done():
            self._loop = asyncio.create_task(self._run(), name="matrix-sync")
        elif polling and self._waiting is not None:
            self._restart = True
            if not self._waiting.cancel():
                self._restart = False
        # else: a handler is slow, not the sync; cancelling it would lose its event

    async def _batch(self, response: SyncResponse) -> None:
        for room_id, joined in response.rooms.join.items():
            state = [*joined.state, *joined.timeline.events]
            self.note_creators(room_id, [e.source for e in state])
        for room_id, invite in response.rooms.invite.items():
            self._handled_any = True
            await self.invited(room_id, [_stripped(e) for e in invite.invite_state])
        if self._since is None:
            log.info("matrix.first_sync", rooms=len(response.rooms.join))
            return  # a new install: history is not replayed
        for room_id, joined in response.rooms.join.items():
            timeline = joined.timeline.events
            events = [e.source for e in timeline if self.e2e.trusted_sender(room_id, e)]
            if joined.timeline.limited and joined.timeline.prev_batch:
                events = await self._backfill(room_id, joined.timeline.prev_batch) + events
            await self._room(room_id, events)
            room = self.client.rooms.get(room_id)
            if room is None or not room.encrypted or self.e2e.on:
                continue
            if room_id not in self._warned:
                self._warned.add(room_id)
                await self.tell_encrypted(ChannelRef(PLATFORM, self.server_name, room_id))

    async def _backfill(self, room_id: str, prev_batch: str) -> list[dict[str, Any]]:
        """Events between the saved token and a truncated timeline, oldest first."""
        found: list[dict[str, Any]] = []
        start: str | None = prev_batch
        while start:
            page = check(
                await self.client.room_messages(
                    room_id, start=start, end=self._since, direction=MessageDirection.back
                )
            )
            found.extend(e.source for e in page.chunk if self.e2e.trusted_sender(room_id, e))
            start = page.end if page.chunk else None
        log.info("matrix.backfilled", room=room_id, events=len(found))
        return found[::-1]

    async def _room(self, room_id: str, events: list[dict[str, Any]]) -> None:
        me = self.client.user_id
        for index, event in enumerate(events):  # events before our own join are history
            content = event.get("content") or {}
            own = event.get("type") == "m.room.member" and event.get("state_key") == me
            if own and content.get("membership") == "join" and event.get("sender") == me:
                events = events[index + 1 :]
                break
        for event in events:
            event_id = str(event.get("event_id"))
            if event.get("type") == "m.room.message" and event.get("content"):
                self.remember_thread(event_id, thread_root(event["content"]))
            if event.get("sender") == me or not event_id.startswith("$"):
                continue
            self._handled_any = True
            if self.on_received is not None:
                self.on_received(event_id)
            if not await self.inbound_log.take(PLATFORM, f"sync:{event_id}", wait=IN_FLIGHT_WAIT):
                continue  # done (StillInFlight, raised after the wait, retries the batch)
            try:
                await self.handle_event(room_id, event)
            except Exception:
                log.exception("matrix.event_failed", event_id=event_id, type=event.get("type"))
            self._done.append(event_id)  # marked done with the batch's token (see `_run`)

    def _report_handled(self) -> None:
        done, self._done = self._done, []
        if self.on_handled is not None:
            for event_id in done:
                self.on_handled(event_id)

    async def _flush_done(self) -> None:
        """The batch failed part-way: mark what it handled done now, so neither this
        instance (which would skip them as its own, in flight) nor another (which would
        wait for them) is left with events handled but never done."""
        if not self._done:
            return
        try:
            await self.inbound_log.done_many(PLATFORM, [f"sync:{e}" for e in self._done])
        except Exception as exc:  # they are retried after the lease, as after a crash
            log.warning("matrix.done_failed", error=repr(exc), events=len(self._done))
            self._done = []
        else:
            self._report_handled()


def _stripped(event: Any) -> dict[str, Any]:
    """An invite's state event as sent: nio pops `content` out of a member event's source
    (where `is_direct` says a DM is being started), so it is put back."""
    content = getattr(event, "content", None)
    source: dict[str, Any] = event.source
    return {**source, "content": content} if isinstance(content, dict) else source
