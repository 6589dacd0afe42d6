"""Relays: which messages of which threads go where, decided once and queued durably.

Every decision is made against the links as they are now (`LinkView.carries`): only an
active, unpaused link whose sending side allows it carries a message, and a copy Hearth
made is never relayed again (it is recognised by the copy map and by `from_bot`), so no
link graph can make a loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config_features import RelayConfig
from bot.events import (
    ChannelRef,
    ChatMessage,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    MessageRef,
)
from bot.port import (
    ChangeFeed,
    Forbidden,
    OutboundMessage,
    OutboundPort,
    RateLimited,
    TargetGone,
    Transient,
)
from bot.relay.catch_up import READ_COST, CatchUp, Pace, pause
from bot.relay.payload import digest, edit_payload, payload_of
from knowledge.clock import Clock
from knowledge.directory import Directory
from knowledge.errors import InvalidInput
from knowledge.links import LinkStore, LinkView, Side
from knowledge.outbox import LEASE, Claimed, Outbox
from knowledge.relays import Claim, NewTarget, Participant, Recorded, RelayStore, Route
from knowledge.views import CommunityInfo
from knowledge.vocabulary import LinkStatus

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class _Recorded:
    """A message just recorded, with what handing its copies over needs."""

    recorded: Recorded
    routes: int
    everyone: tuple[Participant, ...]
    is_root: bool
    now: datetime


@dataclass(frozen=True)
class Started:
    targets: tuple[str, ...]  # community names the thread now goes to
    queued: int  # messages queued (the root and the replies so far)


class Relays:
    def __init__(
        self,
        links: LinkStore,
        store: RelayStore,
        outbox: Outbox,
        directory: Directory,
        clock: Clock,
        command_names: Collection[str] = (),
    ) -> None:
        self.links = links
        self.store = store
        self.outbox = outbox
        self._directory = directory
        self._clock = clock
        self._commands = frozenset(command_names)
        self.ports: dict[str, OutboundPort] = {}
        self.wake = asyncio.Event()  # set when something was queued: the worker looks now
        # the running worker's in-memory inbox: new copies are written claimed for it and
        # handed over at once (no claim round); None when no worker runs in this process
        self.hand_off: Callable[[list[Claimed]], None] | None = None
        self._catch_ups: dict[str, CatchUp] = {}  # background passes, by platform

    def attach(self, port: OutboundPort) -> None:
        self.ports[port.platform] = port

    def now(self) -> datetime:
        return self._clock.now()

    async def announce(self, side: Side, text: str) -> None:
        """Tell a linked community something in its relay channel (best effort: a link
        change must not fail because the other platform is down right now)."""
        port = self.ports.get(side.platform)
        if port is None:
            return
        try:
            await port.post(
                ChannelRef(side.platform, side.space, side.channel), OutboundMessage(text)
            )
        except Exception:
            log.warning("relay.announce_failed", community=side.slug, exc_info=True)

    # starting a relay ----------------------------------------------------------------

    async def relay_thread(
        self,
        community: CommunityInfo,
        thread: Sequence[ChatMessage],
        links: Sequence[LinkView],
    ) -> Started:
        """Relay a thread (root first, then its replies so far) over these links."""
        return await self._relay_thread(community.id, community.name, thread, links)

    async def _relay_thread(
        self,
        community_id: int,
        community_name: str,
        thread: Sequence[ChatMessage],
        links: Sequence[LinkView],
        *,
        session: AsyncSession | None = None,
        later: list[_Recorded] | None = None,
    ) -> Started:
        """In the caller's write `session` when given; what to hand over then goes to
        `later` (the caller passes it to `_queued` once committed)."""
        if not thread:
            raise InvalidInput("There is nothing in that thread to relay.")
        root = thread[0]
        channel = _key(root.ref)
        targets = []
        names = []
        for link in links:
            other = link.other(community_id)
            if other is None or not link.carries(community_id, other.community_id):
                continue
            if (other.platform, other.space, other.channel) == channel:
                continue
            targets.append(
                NewTarget(other.community_id, link.id, (other.platform, other.space, other.channel))
            )
            names.append(other.name)
        if not targets:
            raise InvalidInput(
                "No linked community can receive this: links may be paused, one-way, or none "
                "exist yet (see /constellation list)."
            )
        if session is None:
            mine: list[_Recorded] = []
            async with self.store.writing() as own:  # the thread and its messages at once
                started = await self._open_and_record(
                    own, mine, community_id, community_name, thread, links, targets, names
                )
            for recorded in mine:  # committed: hand the new copies over
                self._queued(recorded)
            return started
        assert later is not None
        return await self._open_and_record(
            session, later, community_id, community_name, thread, links, targets, names
        )

    async def _open_and_record(
        self,
        session: AsyncSession,
        later: list[_Recorded],
        community_id: int,
        community_name: str,
        thread: Sequence[ChatMessage],
        links: Sequence[LinkView],
        targets: Sequence[NewTarget],
        names: Sequence[str],
    ) -> Started:
        root = thread[0]
        now = self._clock.now()
        origin, everyone = await self.store.open_thread(
            community_id, _key(root.ref), root.ref.message_id, targets, now, session=session
        )
        # these links are all the routes need when every target came from them (one link
        # per pair of communities): no second read of the links
        given = {link.id for link in links}
        known = all(p.link_id in given for p in everyone if p.id != origin.id)
        queued = 0
        for message in thread:
            if self._relayable(message):
                queued += await self._record(
                    origin,
                    everyone,
                    message,
                    message is root,
                    community_name,
                    links=links if known else None,
                    session=session,
                    later=later,
                )
        return Started(tuple(names), queued)

    # live events ---------------------------------------------------------------------

    async def message_posted(self, event: MessagePosted) -> None:
        message = event.message
        if not self._relayable(message):
            return
        reply_to = event.reply_to.message_id if event.reply_to else None
        thread_root = message.ref.thread_id or (
            event.reply_to.thread_id if event.reply_to else None
        )
        channel = _key(message.ref)
        links: list[LinkView] | None = None
        later: list[_Recorded] = []
        recorded_here = False
        # the decision, and (the usual case) the message and its copies: one transaction
        async with self.store.writing() as session:
            located = await self.store.locate(
                channel, message.ref.message_id, thread_root, reply_to, session=session
            )
            if located.is_copy:
                return
            participant = located.participant
            if participant is None:
                if thread_root is None and reply_to is None:
                    links = await self.links.whole_channel_links(channel, session=session)
                    if links:  # a new thread: opened and recorded in this transaction too
                        await self._whole_channel(message, links, session, later)
            else:
                if len(located.everyone) > 1:
                    communities = {p.community_id for p in located.everyone}
                    links = await self.links.links_between(communities, session=session)
                if not self._catching_up(participant.platform):
                    recorded_here = True
                    await self._record(
                        participant,
                        located.everyone,
                        message,
                        False,
                        links=links,
                        session=session,
                        later=later,
                    )
        for recorded in later:  # committed: hand the new copies over
            self._queued(recorded)
        if participant is None:
            return
        if not recorded_here:  # a catch-up pass is running: it may read this thread first
            await self._caught_up_first(participant)
            await self._record(participant, located.everyone, message, False, links=links)

    async def message_edited(self, event: MessageEdited) -> None:
        channel = _key(event.ref)
        relayed = await self.store.message(channel, event.ref.message_id)
        if relayed is None or relayed.deleted:
            return
        new = digest(event.text, event.markup)
        routes = await self._live_routes(await self.store.copy_routes(relayed.id))
        payload = edit_payload(relayed.payload, event.text, event.markup)
        await self.store.change(relayed, "edit", routes, payload, digest=new, now=self._clock.now())
        self.wake.set()

    async def message_deleted(self, event: MessageDeleted) -> None:
        """The original's deletion removes its copies; deleting a copy touches nothing else.

        A deleted root removes only the root's copies: the replies stay where they are, so
        deleting a thread never floods the other side with deletions.
        """
        channel = _key(event.ref)
        relayed = await self.store.message(channel, event.ref.message_id)
        if relayed is None:
            return
        routes = await self._live_routes(await self.store.copy_routes(relayed.id))
        await self.store.change(
            relayed, "delete", routes, relayed.payload, digest=None, now=self._clock.now()
        )
        self.wake.set()

    # catch-up ------------------------------------------------------------------------

    def start_catch_up(self, port: OutboundPort, config: RelayConfig) -> None:
        """Catch up on `port` in the background, beside live events (see `catch_up`).

        Called before the adapter starts delivering: a live message then finds the pass
        registered and, in a thread still waiting, has that thread read first."""
        rate = config.catch_up_requests_per_second.for_platform(port.platform)
        run = CatchUp(port.platform, Pace(rate))
        self._catch_ups[port.platform] = run
        run.task = asyncio.create_task(
            self.catch_up(port, config.catch_up_days), name=f"relay-catch-up-{port.platform}"
        )

    async def stop_catch_up(self) -> None:
        """Stop every background pass promptly (between reads); what it did not reach is
        read again at the next start, since its position was not saved."""
        runs, self._catch_ups = list(self._catch_ups.values()), {}
        for run in runs:
            await run.stop()

    def catch_up_waiting(self, platform: str) -> int:
        """Relayed threads on `platform` the background pass has still to read."""
        run = self._catch_ups.get(platform)
        return 0 if run is None else run.waiting

    async def caught_up(self, platform: str) -> None:
        """Until the background pass on `platform` (if any) has ended."""
        run = self._catch_ups.get(platform)
        if run is not None and run.task is not None:
            await asyncio.wait([run.task])

    async def catch_up(self, port: OutboundPort, days: int) -> int:
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
                await self.store.save_catch_up_position(port.platform, position, self._clock.now())
            except Exception:  # not saved: the next start reads from the older position
                log.warning("relay.catch_up_position_unsaved", exc_info=True)
        log.info(
            "relay.caught_up", platform=port.platform, changes=run.changes, complete=run.complete
        )
        return run.changes

    async def _load_catch_up(self, run: CatchUp, port: OutboundPort, days: int) -> str | None:
        """The threads to re-read; returns the platform's position to save once done."""
        since = self._clock.now() - timedelta(days=days)
        participants = await self.store.recent_participants(port.platform, since)
        position = None
        if isinstance(port, ChangeFeed):
            saved = await self.store.catch_up_position(port.platform)
            changes = await port.changes_since(saved)
            position = changes.position
            if changes.touched is not None:
                touched = changes.touched
                participants = [
                    p for p in participants if (p.space, p.channel, p.anchor_id) in touched
                ]
            elif saved:  # a full pass is owed: until one completes, no start may skip it
                await self.store.save_catch_up_position(port.platform, "", self._clock.now())
        run.load(participants)
        log.info("relay.catching_up", platform=port.platform, threads=len(participants))
        return position

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
            self.wake.set()

    def _catching_up(self, platform: str) -> bool:
        """A background catch-up pass is still running on this platform."""
        run = self._catch_ups.get(platform)
        return run is not None and platform in self.ports and not run.done.is_set()

    async def _caught_up_first(self, participant: Participant) -> None:
        """A live message in a thread the pass has not read yet: read that thread now, so
        what was missed in it is queued first (lanes deliver in queue order)."""
        run = self._catch_ups.get(participant.platform)
        port = self.ports.get(participant.platform)
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
        root = await self.store.message(participant.key, participant.anchor_id)
        if root is None or root.deleted:
            return 0
        await self.message_deleted(
            MessageDeleted(MessageRef(_channel(participant), participant.anchor_id))
        )
        return 1

    async def _catch_up_thread(self, port: OutboundPort, participant: Participant) -> int:
        assert participant.anchor_id is not None
        anchor = MessageRef(
            _channel(participant), participant.anchor_id, thread_id=participant.anchor_id
        )
        thread = await port.fetch_thread(anchor)
        known = {m.message_id: m for m in await self.store.messages_of(participant.id)}
        copies = await self.store.copy_ids(participant.id)
        community = await self._directory.community_by_id(participant.community_id)
        if community is None:
            return 0
        everyone = await self.store.participants(participant.relay_thread_id)
        changes = 0
        seen: set[str] = set()
        for message in thread:
            seen.add(message.ref.message_id)
            if message.ref.message_id in copies or not self._relayable(message):
                continue
            relayed = known.get(message.ref.message_id)
            if relayed is None:
                is_root = message.ref.message_id == participant.anchor_id
                if is_root and participant.link_id is not None:
                    continue  # a sibling's root is our copy, never a new message
                changes += await self._record(
                    participant, everyone, message, is_root, community.name
                )
            elif relayed.digest != digest(message.text, message.markup):
                await self.message_edited(
                    MessageEdited(message.ref, message.text, message.author, message.markup)
                )
                changes += 1
        if thread:  # an empty answer proves nothing: never infer deletions from it
            for message_id, relayed in known.items():
                if message_id not in seen and not relayed.deleted:
                    await self.message_deleted(
                        MessageDeleted(MessageRef(_channel(participant), message_id))
                    )
                    changes += 1
        return changes

    # helpers -------------------------------------------------------------------------

    def _relayable(self, message: ChatMessage) -> bool:
        """People's words only: not Hearth's own posts, not commands to Hearth."""
        if message.from_bot:
            return False
        text = message.text.lstrip()
        if text[:1] in ("/", "!"):
            word = text[1:].split(maxsplit=1)[0].lower() if len(text) > 1 else ""
            if word in self._commands:
                return False
        return bool(text) or bool(message.attachments)

    async def _record(
        self,
        participant: Participant,
        everyone: Sequence[Participant],
        message: ChatMessage,
        is_root: bool,
        community_name: str | None = None,
        *,
        links: Sequence[LinkView] | None = None,
        session: AsyncSession | None = None,
        later: list[_Recorded] | None = None,
    ) -> int:
        """Keep the message and queue its copies; 0 if its community is gone. `links`:
        the active links among everyone's communities, when already read. In the
        caller's write `session` when given: then what to hand over goes to `later`, for
        the caller to pass to `_queued` once committed."""
        routes, name = await self._routes(participant, everyone, links, session)
        name = community_name or name
        if name is None and session is not None:  # no link to read it from
            name = await self.store.community_name(participant.community_id, session)
        elif name is None:
            community = await self._directory.community_by_id(participant.community_id)
            name = None if community is None else community.name
        if name is None:
            return 0
        now = self._clock.now()
        hand_off = self.hand_off
        recorded = await self.store.record(
            participant,
            message.ref.message_id,
            is_root=is_root,
            author_name=message.author.display_name,
            digest=digest(message.text, message.markup),
            routes=routes,
            payload=payload_of(message, name),
            now=now,
            claim=None if hand_off is None else Claim(self.outbox.worker, now + LEASE),
            session=session,
        )
        done = _Recorded(recorded, len(routes), tuple(everyone), is_root, now)
        if later is not None:
            later.append(done)
        else:
            self._queued(done)
        return 1

    def _queued(self, done: _Recorded) -> None:
        """After the commit: hand the copies written claimed to the worker; wake it for
        the rest (they wait in their lane, or were queued before)."""
        recorded, hand_off = done.recorded, self.hand_off
        if hand_off is not None and recorded.handed:
            targets = {p.id: p for p in done.everyone}
            hand_off(
                [
                    Claimed(
                        handed.item_id,
                        handed.key,
                        "post",
                        recorded.message.payload,
                        1,
                        0,
                        False,
                        handed.route.link_id,
                        recorded.message.id,
                        done.is_root,
                        replace(targets[handed.route.participant_id], anchor_id=handed.anchor_id),
                        None,
                        LinkStatus.ACTIVE,  # `_routes` took only links that carry now
                        False,
                        done.now,
                    )
                    for handed in recorded.handed
                ]
            )
        if len(recorded.handed) < done.routes:
            self.wake.set()

    async def _routes(
        self,
        source: Participant,
        everyone: Sequence[Participant],
        links: Sequence[LinkView] | None = None,
        session: AsyncSession | None = None,
    ) -> tuple[list[Route], str | None]:
        """The other participants this source may send to, each over a link that carries;
        and the source community's name, as the links know it (None: no link read)."""
        others = [p for p in everyone if p.id != source.id]
        if not others:
            return [], None
        communities = {source.community_id, *(p.community_id for p in others)}
        if links is None:
            links = await self.links.links_between(communities, session=session)
        name = next(
            (s.name for link in links for s in link.sides if s.community_id == source.community_id),
            None,
        )
        routes = []
        for target in others:
            link = next(
                (link for link in links if link.carries(source.community_id, target.community_id)),
                None,
            )
            if link is not None:
                routes.append(Route(target.id, link.id))
        return routes, name

    async def _live_routes(self, routes: Sequence[Route]) -> list[Route]:
        """Edits and deletions follow copies only over links that still flow."""
        live = []
        for route in routes:
            link = await self.links.get(route.link_id)
            if link is not None and link.flowing:
                live.append(route)
        return live

    async def _whole_channel(
        self,
        message: ChatMessage,
        found: Sequence[LinkView],
        session: AsyncSession,
        later: list[_Recorded],
    ) -> None:
        """In a channel linked whole, every new top-level message starts a relayed thread
        (`found`: the channel's whole-channel links), in the caller's write `session`."""
        channel = _key(message.ref)
        links = [
            link
            for link in found
            if any((s.platform, s.space, s.channel) == channel for s in link.sides)
        ]
        if not links:
            return
        side = next(s for s in links[0].sides if (s.platform, s.space, s.channel) == channel)
        try:
            await self._relay_thread(
                side.community_id, side.name, [message], links, session=session, later=later
            )
        except InvalidInput:
            return  # every such link is paused or one-way the other way


def _key(ref: MessageRef) -> tuple[str, str, str]:
    return ref.channel.platform, ref.channel.space, ref.channel.channel


def _channel(participant: Participant) -> ChannelRef:
    return ChannelRef(participant.platform, participant.space, participant.channel)
