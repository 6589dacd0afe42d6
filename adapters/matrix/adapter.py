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
Commands are `!name …` messages (`!insight #tag` as a reply captures the replied-to
message); 💡 reactions capture (the answer goes to the target's thread); edits and
redactions keep sources in step; the bot's own events and `m.notice`s (other bots) are
ignored; relayed copies another Hearth posted (`org.hearth.relay`) arrive with
`from_bot` set. The sender's power level (or being a room creator) is attached to
commands and reactions as the role Matrix grants; the core applies it, and takes it back
when the power level drops.

Why a watchdog (`watchdog_interval_seconds`): a long poll can hang on an open but silent
connection without any error. A nonce written to the bot's account data must come back
in a sync within `watchdog_timeout_seconds`; if not, `matrix.stalled` is logged and the
long poll is cancelled and started again from the kept token.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any
from urllib.parse import quote
from uuid import uuid4

import structlog
from aiohttp import ClientError
from nio import (  # type: ignore[import-untyped]
    AsyncClient,
    AsyncClientConfig,
    RoomGetEventResponse,
    SyncResponse,
)
from nio.api import MessageDirection  # type: ignore[import-untyped]

from adapters.matrix.outbound import (
    PLATFORM,
    MatrixPort,
    check,
    markup_of,
    plain_text,
    relation,
    reply_target,
    thread_root,
)
from bot.capture import BULBS, LABELS
from bot.commands.parse import split_command_line
from bot.config_matrix import MatrixConfig
from bot.events import (
    ChannelRef,
    CommandInvoked,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    MessageRef,
    ReactionAdded,
    Role,
    UserRef,
)
from bot.faults import crash_point
from bot.inbound import Answer, Inbound
from bot.port import Changes, DeliveryError, OutboundMessage, Transient
from bot.retry import Backoff
from knowledge.inbound import InboundLog
from knowledge.sync_tokens import SyncTokens

log = structlog.get_logger(__name__)

TIMELINE_LIMIT = 100
SYNC_REPLAYS = "sync"  # relay catch-up's saved position: a complete pass, then the sync
IN_FLIGHT_WAIT = 30.0  # seconds to wait for another live instance handling an event
PROBE = "org.hearth.probe"  # account data the watchdog writes and expects back in a sync
LEGACY_ROOM_VERSIONS = frozenset(str(n) for n in range(1, 12))
ENCRYPTED_NOTICE = (
    "This room is end-to-end encrypted, and Hearth cannot read encrypted messages: "
    "commands and 💡 here will go unanswered. Use Hearth in an unencrypted room."
)


class _SyncRestarted(Exception):
    """The watchdog cancelled a long poll that had stalled: poll again at once."""


class MatrixAdapter(MatrixPort):
    """Adapter protocol (`connect`/`start`/`wait_closed`/`stop`) plus the outbound port."""

    def __init__(
        self,
        config: MatrixConfig,
        inbound_log: InboundLog,
        sync_tokens: SyncTokens,
        *,
        client: AsyncClient | None = None,
    ) -> None:
        client = client or AsyncClient(
            config.homeserver.rstrip("/"),
            config.user_id,
            device_id=config.device_id or None,
            config=AsyncClientConfig(max_limit_exceeded=5, max_timeouts=3, request_timeout=30),
        )
        super().__init__(client, config.server_name)
        self.config = config
        self._seen = inbound_log
        self._tokens = sync_tokens
        self._inbound: Inbound | None = None
        self._since: str | None = None
        self._resumed = False  # connect() found a saved sync token
        self._first_sync = True
        self._handled_any = False  # the batch being handled had an event or invite for us
        self._done: list[str] = []  # event ids the batch has handled, to mark done with it
        self._creators: dict[str, set[str]] = {}
        self._warned: set[str] = set()  # rooms told (this run) that encryption is unsupported
        self._loop: asyncio.Task[None] | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._waiting: asyncio.Future[Any] | None = None
        self._restart = False  # the watchdog cancelled the long poll in flight
        self._probe: tuple[str, asyncio.Future[None]] | None = None  # nonce awaited in a sync
        self._last_sync: float | None = None  # loop.time() of the last sync response
        self._stopping = asyncio.Event()
        self._closed = asyncio.Event()
        self.on_received: Callable[[str], None] | None = None  # every event id delivered
        self.on_handled: Callable[[str], None] | None = None  # event ids, for tests/metrics
        self.on_synced: Callable[[str], None] | None = None  # next_batch tokens, likewise
        self.on_sync_failed: Callable[[], None] | None = None  # each failed sync, likewise
        self.on_probed: Callable[[float], None] | None = None  # probe round trips (seconds)
        self.on_stalled: Callable[[float], None] | None = None  # seconds since the last sync

    # lifecycle -----------------------------------------------------------------------

    async def connect(self) -> None:
        """Log in (or restore the token) and check it, so a bad one fails at start-up."""
        if self.config.access_token:
            self.client.restore_login(
                self.config.user_id, self.config.device_id or "", self.config.access_token
            )
        else:
            check(await self.client.login(self.config.password, device_name="Hearth"))
        whoami = check(await self.client.whoami())
        if getattr(whoami, "device_id", None) and not self.client.device_id:
            self.client.device_id = whoami.device_id
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
        self._inbound = inbound
        self._loop = asyncio.create_task(self._run(), name="matrix-sync")
        if self.config.watchdog_interval_seconds > 0:
            self._watchdog = asyncio.create_task(self._watch(), name="matrix-watchdog")

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

    @property
    def inbound(self) -> Inbound:
        if self._inbound is None:
            raise RuntimeError("MatrixAdapter.start() has not been called")
        return self._inbound

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
                self._probed(response)
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
                sync_filter={"room": {"timeline": {"limit": TIMELINE_LIMIT}}},
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

    # the watchdog --------------------------------------------------------------------

    async def _watch(self) -> None:
        """Probe sync liveness every interval; restart the long poll when a probe is lost."""
        loop = asyncio.get_running_loop()
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.config.watchdog_interval_seconds)
            if self._stopping.is_set():
                return
            nonce, sent = uuid4().hex, loop.time()
            self._probe = (nonce, loop.create_future())
            try:
                async with asyncio.timeout(self.config.watchdog_timeout_seconds):
                    await self._put_probe(nonce)
                    await self._probe[1]
                if self.on_probed is not None:
                    self.on_probed(loop.time() - sent)
            except TimeoutError:
                self._stalled(loop.time() - sent)
            except DeliveryError as exc:  # the server is down: the sync loop backs off itself
                log.warning("matrix.probe_failed", error=str(exc))
            finally:
                self._probe = None

    async def _put_probe(self, nonce: str) -> None:
        """Write the nonce into the bot's own account data (nio has no call for it)."""
        path = f"/_matrix/client/v3/user/{quote(self.client.user_id, safe='')}/account_data/{PROBE}"
        try:
            response = await self.client.send(
                "PUT",
                path,
                json.dumps({"nonce": nonce}),
                headers={
                    "Authorization": f"Bearer {self.client.access_token}",
                    "Content-Type": "application/json",
                },
            )
        except (OSError, ClientError) as exc:
            raise Transient(f"probe not written: {exc!r}") from exc
        async with response:
            if response.status != 200:
                raise Transient(f"probe not written: HTTP {response.status}")

    def _probed(self, response: SyncResponse) -> None:
        """Resolve the probe awaited, if this sync brought its nonce back."""
        if self._probe is None or self._probe[1].done():
            return
        for event in response.account_data_events:
            content = getattr(event, "content", None)
            if (
                getattr(event, "type", None) == PROBE
                and isinstance(content, dict)
                and content.get("nonce") == self._probe[0]
            ):
                self._probe[1].set_result(None)
                return

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

    def _note_creators(self, room_id: str, events: list[dict[str, Any]]) -> None:
        """Room versions 12+ give creators unlimited power outside the power-levels map."""
        for event in events:
            if event.get("type") == "m.room.create" and event.get("state_key") == "":
                content = event.get("content") or {}
                if str(content.get("room_version", "1")) in LEGACY_ROOM_VERSIONS:
                    self._creators[room_id] = set()
                    continue
                extra = content.get("additional_creators") or []
                self._creators[room_id] = {str(event.get("sender")), *map(str, extra)}

    async def _batch(self, response: SyncResponse) -> None:
        for room_id, joined in response.rooms.join.items():
            state = [*joined.state, *joined.timeline.events]
            self._note_creators(room_id, [e.source for e in state])
        for room_id, invite in response.rooms.invite.items():
            await self._invited(room_id, [e.source for e in invite.invite_state])
        if self._since is None:
            log.info("matrix.first_sync", rooms=len(response.rooms.join))
            return  # a new install: history is not replayed
        for room_id, joined in response.rooms.join.items():
            events = [e.source for e in joined.timeline.events]
            if joined.timeline.limited and joined.timeline.prev_batch:
                events = await self._backfill(room_id, joined.timeline.prev_batch) + events
            await self._room(room_id, events)
            room = self.client.rooms.get(room_id)
            if room is not None and room.encrypted and room_id not in self._warned:
                self._warned.add(room_id)
                await self._encrypted(ChannelRef(PLATFORM, self.server_name, room_id))

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
            found.extend(e.source for e in page.chunk)
            start = page.end if page.chunk else None
        log.info("matrix.backfilled", room=room_id, events=len(found))
        return found[::-1]

    async def _invited(self, room_id: str, state: list[dict[str, Any]]) -> None:
        self._handled_any = True
        me = self.client.user_id
        inviter = next(
            (
                str(e.get("sender"))
                for e in state
                if e.get("type") == "m.room.member" and e.get("state_key") == me
            ),
            "",
        )
        aliases = [
            str((e.get("content") or {}).get("alias"))
            for e in state
            if e.get("type") == "m.room.canonical_alias"
        ]
        try:
            if self.config.may_join(room_id, inviter, aliases):
                check(await self.client.join(room_id))
                log.info("matrix.joined", room=room_id, inviter=inviter)
            else:
                check(await self.client.room_leave(room_id))
                log.info("matrix.invite_declined", room=room_id, inviter=inviter)
        except DeliveryError as exc:
            log.warning("matrix.invite_failed", room=room_id, error=str(exc))

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
            if not await self._seen.take(PLATFORM, f"sync:{event_id}", wait=IN_FLIGHT_WAIT):
                continue  # done (StillInFlight, raised after the wait, retries the batch)
            try:
                await self._event(room_id, event)
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
            await self._seen.done_many(PLATFORM, [f"sync:{e}" for e in self._done])
        except Exception as exc:  # they are retried after the lease, as after a crash
            log.warning("matrix.done_failed", error=repr(exc), events=len(self._done))
            self._done = []
        else:
            self._report_handled()

    # events --------------------------------------------------------------------------

    async def _event(self, room_id: str, event: dict[str, Any]) -> None:
        kind, content = event.get("type"), event.get("content") or {}
        channel = ChannelRef(PLATFORM, self.server_name, room_id)
        sender = str(event.get("sender"))
        user = UserRef(
            PLATFORM, sender, self.display_name(room_id, sender), self.role_of(room_id, sender)
        )
        rel = relation(content)
        if kind in ("m.room.encrypted", "m.room.encryption"):
            await self._encrypted(channel)
        elif kind == "m.reaction" and rel.get("rel_type") == "m.annotation":
            key = str(rel.get("key"))
            target = await self._reacted_to(channel, str(rel.get("event_id")), key)
            reaction = ReactionAdded(target, key, user, str(event["event_id"]))
            await self.inbound.reaction(reaction, self, self.config.command_prefix)
        elif kind == "m.room.redaction":
            redacts = event.get("redacts") or content.get("redacts")
            if redacts:
                ref = MessageRef(channel, str(redacts), thread_id=self.thread_of(str(redacts)))
                await self.inbound.message_deleted(MessageDeleted(ref))
        elif kind == "m.room.message" and not content:
            return  # redacted before this sync saw it: its redaction follows
        elif kind == "m.room.message" and rel.get("rel_type") == "m.replace":
            await self._edited(channel, user, rel, content)
        elif kind == "m.room.message" and content.get("msgtype") != "m.notice":
            await self._message(channel, user, event)

    async def _message(self, channel: ChannelRef, user: UserRef, event: dict[str, Any]) -> None:
        content = event.get("content") or {}
        message = self.chat_message(channel.channel, event)
        replied = reply_target(content)
        root = thread_root(content)
        reply_to = MessageRef(channel, replied, thread_id=root) if replied else None
        command = split_command_line(message.text, self.config.command_prefix)
        if command is None:
            in_thread = reply_to or (MessageRef(channel, root, thread_id=root) if root else None)
            await self.inbound.message_posted(MessagePosted(message, in_thread), self)
            return
        room = self.client.rooms.get(channel.channel)
        name, rest = command
        invoked = CommandInvoked(
            name=name,
            invoker=user,
            channel=channel,
            event_id=message.ref.message_id,
            text=rest,
            message=message,
            reply_to=reply_to,
            direct=room is not None and room.member_count <= 2 and room.is_group,
        )

        async def deliver(answer: Answer) -> None:  # ephemeral does not exist on Matrix
            reply = replace(answer.message(), ephemeral=False)
            await self.post(channel, reply, reply_to=message.ref)

        await self.inbound.command(invoked, self, self.config.command_prefix, deliver)

    async def _reacted_to(self, channel: ChannelRef, event_id: str, key: str) -> MessageRef:
        """The reacted-to message with its thread, so the answer lands in that thread.

        Why a fetch: a reaction names only its target event, not the target's thread, and
        nio keeps no timeline. Only the emoji Hearth answers (💡, 🏷️) pay for it; a target
        that cannot be read is answered outside any thread, as before.
        """
        if key not in BULBS and key not in LABELS:
            return MessageRef(channel, event_id)
        response = await self.client.room_get_event(channel.channel, event_id)
        if not isinstance(response, RoomGetEventResponse):
            return MessageRef(channel, event_id)
        root = thread_root(response.event.source.get("content") or {})
        return MessageRef(channel, event_id, thread_id=root)

    async def _edited(
        self, channel: ChannelRef, editor: UserRef, rel: dict[str, Any], content: dict[str, Any]
    ) -> None:
        """An edit by the original author only (servers accept anyone's; clients do not)."""
        new = content.get("m.new_content")
        target = str(rel.get("event_id"))
        if not isinstance(new, dict):
            return
        original = check(await self.client.room_get_event(channel.channel, target))
        if original.event.source.get("sender") != editor.user_id:
            return
        root = thread_root(original.event.source.get("content") or {})
        self.remember_thread(target, root)
        ref = MessageRef(channel, target, thread_id=root)
        edited = MessageEdited(ref, plain_text(new), editor, markup=markup_of(new))
        await self.inbound.message_edited(edited)

    async def _encrypted(self, channel: ChannelRef) -> None:
        """Say once per room (across restarts: the InboundLog) that encryption is unsupported."""
        key = f"e2e-notice:{channel.channel}"
        if await self._seen.take(PLATFORM, key):
            try:
                await self.post(channel, OutboundMessage(ENCRYPTED_NOTICE))
            except Exception as exc:  # nio refuses plain sends into encrypted rooms
                log.warning("matrix.encrypted_room", room=channel.channel, error=repr(exc))
            await self._seen.done(PLATFORM, key)

    def role_of(self, room_id: str, user_id: str) -> Role | None:
        """The role the room grants: a creator (room v12) stewards, else by power level.
        None when the room's state is not known here (nothing is changed then): without
        its create event a creator would look like a plain member."""
        room, creators = self.client.rooms.get(room_id), self._creators.get(room_id)
        if room is None or creators is None:
            return None
        if user_id in creators:
            return Role.STEWARD
        return self.config.role_for(room.power_levels.get_user_level(user_id))
