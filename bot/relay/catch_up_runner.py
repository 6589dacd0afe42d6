"""Running catch-up passes beside live events, one per platform, and reading threads.

Why apart from `Relays`: the live path decides and queues one message; a pass re-reads
whole threads after downtime and turns what differs into the same live events (a new
message, an edit, a deletion), so it needs the live path but not the other way round.
The pass's state (pace, threads waiting, stop) is in catch_up.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

import structlog

from bot.config_features import RelayConfig
from bot.events import ChatMessage, MessageDeleted, MessageEdited, MessagePosted, MessageRef
from bot.port import (
    ChangeFeed,
    ChannelHistory,
    Forbidden,
    OutboundPort,
    RateLimited,
    TargetGone,
    Transient,
)
from bot.relay.catch_up import READ_COST, CatchUp, Pace, pause
from bot.relay.channel_catch_up import catch_up_channels
from bot.relay.payload import digest
from bot.relay.routing import channel_of
from knowledge.directory import Directory
from knowledge.relays import Participant, RelayStore

log = structlog.get_logger(__name__)


class LivePath(Protocol):
    """What a pass needs of `Relays`: the store, the ports, and the live path itself
    (a pass is started through `catch_up`, the entry point others may wrap)."""

    store: RelayStore
    ports: dict[str, OutboundPort]
    wake: asyncio.Event

    def now(self) -> datetime: ...

    def relayable(self, message: ChatMessage) -> bool: ...

    async def record(
        self,
        participant: Participant,
        everyone: Sequence[Participant],
        message: ChatMessage,
        is_root: bool,
        community_name: str | None = None,
    ) -> int: ...

    async def message_posted(self, event: MessagePosted, *, missed: bool = False) -> None: ...

    async def message_edited(self, event: MessageEdited) -> None: ...

    async def message_deleted(self, event: MessageDeleted) -> None: ...

    async def catch_up(self, port: OutboundPort, days: int) -> int: ...


class CatchUpRunner:
    """Every platform's background pass, and the live path's way to read a thread first."""

    def __init__(self, relays: LivePath, directory: Directory) -> None:
        self._relays = relays
        self._directory = directory
        self._catch_ups: dict[str, CatchUp] = {}  # background passes, by platform

    def start(self, port: OutboundPort, config: RelayConfig) -> None:
        """Catch up on `port` in the background, beside live events (see `run`).

        Called before the adapter starts delivering: a live message then finds the pass
        registered and, in a thread still waiting, has that thread read first."""
        rate = config.catch_up_requests_per_second.for_platform(port.platform)
        run = CatchUp(port.platform, Pace(rate))
        run.channel_limit = config.catch_up_channel_messages
        self._catch_ups[port.platform] = run
        run.task = asyncio.create_task(
            self._relays.catch_up(port, config.catch_up_days),
            name=f"relay-catch-up-{port.platform}",
        )

    async def stop(self) -> None:
        """Stop every background pass promptly (between reads); what it did not reach is
        read again at the next start, since its position was not saved."""
        runs, self._catch_ups = list(self._catch_ups.values()), {}
        for run in runs:
            await run.stop()

    def waiting(self, platform: str) -> int:
        """Relayed threads on `platform` the background pass has still to read."""
        run = self._catch_ups.get(platform)
        return 0 if run is None else run.waiting

    async def finished(self, platform: str) -> None:
        """Until the background pass on `platform` (if any) has ended."""
        run = self._catch_ups.get(platform)
        if run is not None and run.task is not None:
            await asyncio.wait([run.task])

    async def run(self, port: OutboundPort, days: int) -> int:
        """Re-read relayed threads on this platform that can have changed while Hearth was
        down, and relay what was posted, edited or deleted meanwhile. Each change is
        keyed, so overlap with live events or a second pass queues nothing twice.
        Returns how many changes were queued.

        Which threads: those active in the last `days`, narrowed by the platform's own
        "what changed since" (`ChangeFeed`) from where the last complete pass ended; that
        position is saved only when every read succeeded."""
        run = self._catch_ups.get(port.platform)
        if run is None or run.started:  # called directly: an unpaced pass of its own
            run = CatchUp(port.platform, Pace(0))
        run.started = True
        position: str | None = None
        try:
            try:
                position = await self._load_catch_up(run, port, days)
            finally:
                run.ready.set()  # live messages never wait on a failed load
            try:
                await self._channels(run, port, days)
            finally:
                run.channels_read.set()
            while (participant := run.next()) is not None:
                if run.tries(participant.id) and not await pause(
                    2.0 ** run.tries(participant.id), run.stopping
                ):
                    break
                if not await run.pace.take(READ_COST, run.stopping):
                    break
                await self._read(run, port, participant)
        except Exception:
            run.complete = False
            log.exception("relay.catch_up_stopped", platform=port.platform)
        finally:
            run.channels_read.set()
            run.done.set()
        if run.waiting:  # stopped: the position stays, so the next start reads these
            log.info(
                "relay.catch_up_interrupted",
                platform=port.platform,
                changes=run.changes,
                left=run.waiting,
            )
            return run.changes
        if run.complete and position is not None:
            try:
                await self._relays.store.save_catch_up_position(
                    port.platform, position, self._relays.now()
                )
            except Exception:  # not saved: the next start reads from the older position
                log.warning("relay.catch_up_position_unsaved", exc_info=True)
        log.info(
            "relay.caught_up", platform=port.platform, changes=run.changes, complete=run.complete
        )
        return run.changes

    async def _load_catch_up(self, run: CatchUp, port: OutboundPort, days: int) -> str | None:
        """The threads to re-read; returns the platform's position to save once done."""
        since = self._relays.now() - timedelta(days=days)
        participants = await self._relays.store.recent_participants(port.platform, since)
        position = None
        if isinstance(port, ChangeFeed):
            saved = await self._relays.store.catch_up_position(port.platform)
            changes = await port.changes_since(saved)
            position = changes.position
            if changes.touched is not None:
                touched = changes.touched
                participants = [
                    p for p in participants if (p.space, p.channel, p.anchor_id) in touched
                ]
            elif saved:  # a full pass is owed: until one completes, no start may skip it
                await self._relays.store.save_catch_up_position(
                    port.platform, "", self._relays.now()
                )
        run.load(participants)
        log.info("relay.catching_up", platform=port.platform, threads=len(participants))
        return position

    async def _channels(self, run: CatchUp, port: OutboundPort, days: int) -> None:
        """Top-level messages posted meanwhile in channels linked whole (channel_catch_up.py)."""
        if not isinstance(port, ChannelHistory):
            return  # Matrix's sync and the console's transcript replay them as live events

        async def post(event: MessagePosted) -> None:
            await self._relays.message_posted(event, missed=True)

        async def read_thread(participant: Participant) -> int:
            return await self._catch_up_thread(port, participant)

        store, now = self._relays.store, self._relays.now()
        run.changes += await catch_up_channels(
            store, port, port.platform, run, now, days, post, read_thread
        )
        self._relays.wake.set()

    async def channels_read(self, platform: str) -> None:
        """Until the pass on `platform` has read its channels linked whole: a live
        top-level message there is then queued after what was missed before it."""
        run = self._catch_ups.get(platform)
        if not isinstance(self._relays.ports.get(platform), ChannelHistory):
            return  # nothing to read there: never wait
        if run is not None and not run.done.is_set():
            await run.channels_read.wait()

    async def _read(self, run: CatchUp, port: OutboundPort, participant: Participant) -> None:
        """Read one waiting thread once (the pass and a live message may both ask)."""
        async with run.lock(participant.id):
            if not run.is_pending(participant.id):
                return
            try:
                while True:
                    try:
                        changes = await self._catch_up_thread(port, participant)
                        break
                    except RateLimited as limited:  # the platform says when: not a failure
                        if not await pause(limited.retry_after, run.stopping):
                            return  # stopping: still waiting, read at the next start
            except TargetGone as gone:  # deleted while Hearth was down: a normal outcome
                log.info("relay.catch_up_gone", participant=participant.id, reason=str(gone))
                changes = await self._root_gone(participant)
            except (Forbidden, Transient) as failure:
                log.warning(
                    "relay.catch_up_unreadable",
                    participant=participant.id,
                    reason=str(failure),
                    retrying=run.failed(participant.id),
                )
                return
            except Exception:  # one unreadable thread must not stop the others
                log.exception("relay.catch_up_failed", participant=participant.id)
                run.failed(participant.id)
                return
            run.finished(participant.id)
        if changes:
            run.changes += changes
            self._relays.wake.set()

    def running(self, platform: str) -> bool:
        """A background catch-up pass is still running on this platform."""
        run = self._catch_ups.get(platform)
        return run is not None and platform in self._relays.ports and not run.done.is_set()

    async def read_first(self, participant: Participant) -> None:
        """A live message in a thread the pass has not read yet: read that thread now, so
        what was missed in it is queued first (lanes deliver in queue order)."""
        run = self._catch_ups.get(participant.platform)
        port = self._relays.ports.get(participant.platform)
        if run is None or port is None or run.done.is_set():
            return
        await run.ready.wait()
        if run.is_pending(participant.id):
            log.info("relay.catch_up_first", participant=participant.id)
            run.pace.charge(READ_COST)  # live goes first; background reads move back
            await self._read(run, port, participant)

    async def _root_gone(self, participant: Participant) -> int:
        """The thread's root is gone: relay its deletion as a live event would (a
        sibling's root is our copy, whose deletion touches nothing else)."""
        if participant.link_id is not None or participant.anchor_id is None:
            return 0
        root = await self._relays.store.message(participant.key, participant.anchor_id)
        if root is None or root.deleted:
            return 0
        await self._relays.message_deleted(
            MessageDeleted(MessageRef(channel_of(participant), participant.anchor_id))
        )
        return 1

    async def _catch_up_thread(self, port: OutboundPort, participant: Participant) -> int:
        assert participant.anchor_id is not None
        anchor = MessageRef(
            channel_of(participant), participant.anchor_id, thread_id=participant.anchor_id
        )
        thread = await port.fetch_thread(anchor)
        known = {m.message_id: m for m in await self._relays.store.messages_of(participant.id)}
        copies = await self._relays.store.copy_ids(participant.id)
        community = await self._directory.community_by_id(participant.community_id)
        if community is None:
            return 0
        everyone = await self._relays.store.participants(participant.relay_thread_id)
        changes = 0
        seen: set[str] = set()
        for message in thread:
            seen.add(message.ref.message_id)
            if message.ref.message_id in copies or not self._relays.relayable(message):
                continue
            relayed = known.get(message.ref.message_id)
            if relayed is None:
                is_root = message.ref.message_id == participant.anchor_id
                if is_root and participant.link_id is not None:
                    continue  # a sibling's root is our copy, never a new message
                changes += await self._relays.record(
                    participant, everyone, message, is_root, community.name
                )
            elif relayed.digest != digest(message.text, message.markup):
                await self._relays.message_edited(
                    MessageEdited(message.ref, message.text, message.author, message.markup)
                )
                changes += 1
        if thread:  # an empty answer proves nothing: never infer deletions from it
            for message_id, relayed in known.items():
                if message_id not in seen and not relayed.deleted:
                    await self._relays.message_deleted(
                        MessageDeleted(MessageRef(channel_of(participant), message_id))
                    )
                    changes += 1
        return changes
