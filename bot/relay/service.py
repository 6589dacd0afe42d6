"""Relays: which messages of which threads go where, decided once and queued durably.

Every decision is made against the links as they are now (`LinkView.carries`): only an
active, unpaused link whose sending side allows it carries a message, and a copy Hearth
made is never relayed again (it is recognised by the copy map and by `from_bot`), so no
link graph can make a loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config_features import RelayConfig
from bot.events import (
    ChannelRef,
    ChatMessage,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
)
from bot.port import (
    OutboundMessage,
    OutboundPort,
)
from bot.relay.catch_up_runner import CatchUpRunner
from bot.relay.payload import digest, edit_payload, payload_of
from bot.relay.routing import (
    Queued,
    channel_key,
    handed_claims,
    new_targets,
    relayable,
    routes_over,
)
from knowledge.clock import Clock
from knowledge.directory import Directory
from knowledge.errors import InvalidInput
from knowledge.links import LinkStore, LinkView, Side
from knowledge.outbox import LEASE, Claimed, Outbox
from knowledge.relays import Claim, NewTarget, Participant, RelayStore, Route
from knowledge.views import CommunityInfo

log = structlog.get_logger(__name__)


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
        self.catch_ups = CatchUpRunner(self, directory)  # background passes, by platform

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
        later: list[Queued] | None = None,
    ) -> Started:
        """In the caller's write `session` when given; what to hand over then goes to
        `later` (the caller passes it to `_queued` once committed)."""
        if not thread:
            raise InvalidInput("There is nothing in that thread to relay.")
        targets, names = new_targets(community_id, channel_key(thread[0].ref), links)
        if not targets:
            raise InvalidInput(
                "No linked community can receive this: links may be paused, one-way, or none "
                "exist yet (see /constellation list)."
            )
        if session is None:
            mine: list[Queued] = []
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
        later: list[Queued],
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
            community_id, channel_key(root.ref), root.ref.message_id, targets, now, session=session
        )
        # these links are all the routes need when every target came from them (one link
        # per pair of communities): no second read of the links
        given = {link.id for link in links}
        known = all(p.link_id in given for p in everyone if p.id != origin.id)
        queued = 0
        for message in thread:
            if self.relayable(message):
                queued += await self.record(
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

    async def message_posted(self, event: MessagePosted, *, missed: bool = False) -> None:
        """`missed`: read back by catch-up (channel_catch_up.py), not a live event."""
        message = event.message
        if not self.relayable(message):
            return
        reply_to = event.reply_to.message_id if event.reply_to else None
        thread_root = message.ref.thread_id or (
            event.reply_to.thread_id if event.reply_to else None
        )
        channel = channel_key(message.ref)
        if thread_root is None and reply_to is None and not missed:
            await self.catch_ups.channels_read(message.ref.channel.platform)  # order kept
        links: list[LinkView] | None = None
        later: list[Queued] = []
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
                if not self.catch_ups.running(participant.platform):
                    recorded_here = True
                    await self.record(
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
            await self.catch_ups.read_first(participant)
            await self.record(participant, located.everyone, message, False, links=links)

    async def message_edited(self, event: MessageEdited) -> None:
        channel = channel_key(event.ref)
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
        channel = channel_key(event.ref)
        relayed = await self.store.message(channel, event.ref.message_id)
        if relayed is None:
            return
        routes = await self._live_routes(await self.store.copy_routes(relayed.id))
        await self.store.change(
            relayed, "delete", routes, relayed.payload, digest=None, now=self._clock.now()
        )
        self.wake.set()

    # catch-up (catch_up_runner.py) ---------------------------------------------------

    def start_catch_up(self, port: OutboundPort, config: RelayConfig) -> None:
        """Catch up on `port` in the background, beside live events (`CatchUpRunner`)."""
        self.catch_ups.start(port, config)

    async def stop_catch_up(self) -> None:
        await self.catch_ups.stop()

    def catch_up_waiting(self, platform: str) -> int:
        return self.catch_ups.waiting(platform)

    async def caught_up(self, platform: str) -> None:
        await self.catch_ups.finished(platform)

    async def catch_up(self, port: OutboundPort, days: int) -> int:
        return await self.catch_ups.run(port, days)

    # recording -----------------------------------------------------------------------

    def relayable(self, message: ChatMessage) -> bool:
        """People's words only: not Hearth's own posts, not commands to Hearth."""
        return relayable(message, self._commands)

    async def record(
        self,
        participant: Participant,
        everyone: Sequence[Participant],
        message: ChatMessage,
        is_root: bool,
        community_name: str | None = None,
        *,
        links: Sequence[LinkView] | None = None,
        session: AsyncSession | None = None,
        later: list[Queued] | None = None,
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
        done = Queued(recorded, len(routes), tuple(everyone), is_root, now)
        if later is not None:
            later.append(done)
        else:
            self._queued(done)
        return 1

    def _queued(self, done: Queued) -> None:
        """After the commit: hand the copies written claimed to the worker; wake it for
        the rest (they wait in their lane, or were queued before)."""
        recorded, hand_off = done.recorded, self.hand_off
        if hand_off is not None and recorded.handed:
            hand_off(handed_claims(done))
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
        return routes_over(source, others, links)

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
        later: list[Queued],
    ) -> None:
        """In a channel linked whole, every new top-level message starts a relayed thread
        (`found`: the channel's whole-channel links), in the caller's write `session`."""
        channel = channel_key(message.ref)
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
