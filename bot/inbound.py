"""Where neutral events enter the core: commands get a reply, reactions may capture.

Adapters call `command()` with a `deliver` callback that shows the reply their own way
(a message on the console and Matrix, an interaction response on Discord, an ephemeral
on Slack). Why a callback rather than a return value: a command is done only once it is
answered. The event is taken in the InboundLog, handled, the reply delivered, and only
then marked done, so a crash anywhere in between leaves it undone and the next instance
runs it again (handlers are idempotent: /insight re-finds its insight). The reply is
idempotent too: `Answer.key` is the same on every run of one event, and `resumed` says a
dead predecessor may have posted it already (Matrix derives its transaction id from the
key and looks for it; the console finds it in its transcript; Slack's response_url and
Discord's interaction token are never redelivered to another process, so they need
neither). A reply the platform refuses (DeliveryError) is logged and the event is done:
retrying would not change the answer.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import structlog

from bot import formatting
from bot.assist.service import Assist
from bot.capture import BULBS, LABELS, Capture, announce
from bot.commands.families import BoundCommands
from bot.commands.parse import find_command, parse
from bot.commands.prefix import respell
from bot.commands.spec import Command, Reply
from bot.context import CommandContext
from bot.direct import Ambiguous, choose, direct_community, typed_answer, which_one
from bot.events import (
    ChannelRef,
    CommandInvoked,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    MessageRef,
    ReactionAdded,
    UserRef,
)
from bot.faults import crash_point
from bot.ops.metrics import Metrics
from bot.port import DeliveryError, OutboundMessage, OutboundPort
from bot.relay.service import Relays
from knowledge.directory import Directory
from knowledge.errors import UserError
from knowledge.failures import explain, root_cause
from knowledge.inbound import InboundLog, Taken
from knowledge.insights import InsightStore
from knowledge.views import CommunityInfo, MemberInfo
from scheduling.service import Rituals

log = structlog.get_logger(__name__)


def _unbound(prefix: str) -> Reply:
    return Reply(
        "This channel is not part of a Hearth community yet. A steward can add it under "
        "[[communities.channels]] in the config file.",
        ephemeral=True,
    )


NO_SHARED_COMMUNITY = Reply(
    "We share no Hearth community yet: I answer direct messages from members of a "
    "community's server or workspace.",
    ephemeral=True,
)


@dataclass(frozen=True)
class Answer:
    """A command's reply, with what makes delivering it twice harmless."""

    reply: Reply
    key: str  # "reply:<event id>": the same on every run of one command event
    resumed: bool = False  # a dead predecessor may have delivered it already

    def message(self) -> OutboundMessage:
        """The reply as an outbound message carrying the idempotency key."""
        return OutboundMessage(
            self.reply.text,
            self.reply.ephemeral,
            idempotency_key=self.key,
            maybe_posted=self.resumed,
        )


Deliver = Callable[[Answer], Awaitable[None]]


class EventLog(Protocol):
    """What an adapter needs to see a platform event once (knowledge.inbound.InboundLog
    is the store's): `take` is None for one already handled or being handled."""

    async def take(self, platform: str, event_id: str, *, wait: float = 0) -> object | None: ...

    async def done(self, platform: str, event_id: str) -> None: ...

    async def done_many(self, platform: str, event_ids: list[str]) -> None: ...


class SyncPositions(Protocol):
    """Where a platform's event stream was last read to (knowledge.sync_tokens.SyncTokens):
    a position is saved with the events its batch handled, in one transaction."""

    async def get(self, platform: str, key: str) -> str | None: ...

    async def put(
        self, platform: str, key: str, token: str, *, done: Sequence[str] = ()
    ) -> None: ...


class Inbound:
    def __init__(
        self,
        commands: BoundCommands,
        *,
        directory: Directory,
        insights: InsightStore,
        assist: Assist,
        rituals: Rituals,
        relays: Relays,
        inbound_log: InboundLog,
        metrics: Metrics,
    ) -> None:
        """`commands` answers commands; reactions capture into `insights` (with tags from
        `assist`); plain messages, edits and deletions also reach `rituals` and `relays`."""
        self._commands = commands
        self._directory = directory
        self._insights = insights
        self._assist = assist
        self._rituals = rituals
        self._relays = relays
        self._metrics = metrics
        self._seen = inbound_log
        self._capture = Capture(insights)

    async def _community(self, platform: str, space: str, channel: str) -> CommunityInfo | None:
        return await self._directory.community_for_channel(platform, space, channel)

    async def command(
        self, event: CommandInvoked, port: OutboundPort, prefix: str, deliver: Deliver
    ) -> bool:
        """Handle the command and deliver its reply; False if it was already handled
        (or is being handled by another live instance), and nothing was said."""
        channel = event.channel
        self._metrics.inbound_events.labels(channel.platform, "command").inc()
        started = time.monotonic()
        names = [c.name for c in self._commands.table.commands]

        async def respelled(answer: Answer) -> None:
            reply = answer.reply
            text = respell(reply.text, prefix, names)
            await deliver(replace(answer, reply=replace(reply, text=text)))

        with structlog.contextvars.bound_contextvars(
            event_id=event.event_id, platform=channel.platform, command=event.name
        ):
            handled, outcome = await self._command(event, port, prefix, respelled)
        self._metrics.commands.labels(event.name, outcome).inc()
        if handled:
            self._metrics.command_seconds.labels(event.name).observe(time.monotonic() - started)
        return handled

    async def _command(
        self, event: CommandInvoked, port: OutboundPort, prefix: str, deliver: Deliver
    ) -> tuple[bool, str]:
        channel = event.channel
        outcome = "ok"
        key = f"reply:{event.event_id}"
        taken: Taken | None = None
        try:
            command = find_command(self._commands.table, event.name, prefix)
            community = await self._community(channel.platform, channel.space, channel.channel)
            found = None
            if community is None and event.direct:
                found = await direct_community(self._directory, port, channel, event.invoker)
                community = found if isinstance(found, CommunityInfo) else None
            if isinstance(found, Ambiguous):
                reply = which_one(found)
            elif community is None:
                reply = _unbound(prefix) if not event.direct else NO_SHARED_COMMUNITY
            else:
                taken = await self._seen.take(channel.platform, event.event_id)
                if taken is None:
                    log.info("command.duplicate_skipped", event_id=event.event_id)
                    return False, "duplicate"
                crash_point("inbound.after_take")
                with structlog.contextvars.bound_contextvars(community=community.slug):
                    reply, outcome = await self._run(command, event, community, port, prefix)
                crash_point("inbound.after_handle")
        except UserError as exc:
            log.info("command.refused", command=event.name, reason=exc.message)
            reply, outcome = Reply(exc.message, ephemeral=True), "refused"
        except Exception as exc:
            outcome = "failed"
            incident = uuid.uuid4().hex[:8]
            sentence = explain(exc)  # a full disk, a lock, a NUL byte: said in words
            if sentence is not None:
                log.warning(
                    "command.failed", command=event.name, incident=incident, why=sentence,
                    error=repr(exc), cause=root_cause(exc),
                )  # fmt: skip
                reply = Reply(f"{sentence} (incident {incident})", ephemeral=True)
            else:
                log.exception("command.failed", command=event.name, incident=incident)
                reply = Reply(
                    f"Something went wrong on my side (incident {incident}); it has been "
                    "logged. Nothing was stored half-way: try again in a moment.",
                    ephemeral=True,
                )
        try:
            await deliver(Answer(reply, key, resumed=taken is not None and taken.resumed))
        except DeliveryError as exc:
            log.warning("command.reply_failed", command=event.name, error=str(exc))
        crash_point("inbound.after_reply")
        if taken is not None:
            await self._seen.done(channel.platform, event.event_id)
            log.info("command.answered", event_id=event.event_id, resumed=taken.resumed)
        return True, outcome

    async def choose_direct(
        self, channel: ChannelRef, user: UserRef, slug: str, port: OutboundPort
    ) -> Reply:
        """The person picked the community their DMs with Hearth belong to (bot.direct)."""
        try:
            return await choose(self._directory, port, channel, user, slug)
        except DeliveryError as exc:
            log.warning("direct.choice_failed", error=str(exc))
            return Reply("I could not check your communities just now; try again.", True)

    async def direct_answer(
        self, channel: ChannelRef, user: UserRef, text: str, port: OutboundPort
    ) -> Reply | None:
        """A plain DM message on a platform without menus (Matrix): the typed answer to
        `which_one` while the DM has no community, else None (bot.direct.typed_answer)."""
        return await typed_answer(self._directory, port, channel, user, text)

    async def _run(
        self,
        command: Command,
        event: CommandInvoked,
        community: CommunityInfo,
        port: OutboundPort,
        prefix: str,
    ) -> tuple[Reply, str]:
        """The reply and the outcome for /metrics (ok, refused, platform_refused)."""
        try:
            member = await self._directory.resolve_member(
                community.id,
                event.invoker.platform,
                event.invoker.user_id,
                event.invoker.display_name,
                event.invoker.platform_role,
            )
            parsed = parse(command, event.text, prefix)
            if not member.role.at_least(parsed.command.permission):
                return Reply(
                    f"Only {parsed.command.permission.value}s can use {prefix}{parsed.path}.",
                    ephemeral=True,
                ), "refused"
            context = CommandContext(community, member, event, port, prefix)
            reply = await self._commands.handler(parsed.command)(context, parsed.args)
            log.info(
                "command.handled", command=parsed.path, community=community.slug, member=member.id
            )
            return reply, "ok"
        except UserError as exc:
            log.info("command.refused", command=event.name, reason=exc.message)
            return Reply(exc.message, ephemeral=True), "refused"
        except DeliveryError as exc:  # the platform said no (permissions, gone, limits)
            log.warning("command.platform_refused", command=event.name, error=str(exc))
            return Reply(
                f"{event.channel.platform.title()} would not let me do that: {exc}", ephemeral=True
            ), "platform_refused"

    async def reaction(self, event: ReactionAdded, port: OutboundPort, prefix: str = "/") -> None:
        """💡 captures a message once, crediting its author; 🏷️ on a captured message
        adds the suggested tags; other emoji are ignored."""
        with structlog.contextvars.bound_contextvars(
            event_id=event.event_id, platform=event.target.channel.platform
        ):
            await self._reaction(event, port, prefix)

    async def _reaction(self, event: ReactionAdded, port: OutboundPort, prefix: str) -> None:
        channel = event.target.channel
        self._metrics.inbound_events.labels(channel.platform, "reaction").inc()
        if event.emoji not in BULBS and event.emoji not in LABELS:
            return
        community = await self._community(channel.platform, channel.space, channel.channel)
        if community is None:
            return
        taken = await self._seen.take(channel.platform, event.event_id)
        if taken is None:
            return
        try:
            user = event.user
            curator = await self._directory.resolve_member(
                community.id, user.platform, user.user_id, user.display_name, user.platform_role
            )
            if event.emoji in LABELS:
                text = await self._accept_suggested_tags(community, curator, event.target)
            else:
                result = await self._capture.message(community, curator, port, event.target)
                text = await announce(result, self._assist, community, prefix)
        except UserError as exc:
            text = exc.message
        except Exception as exc:
            sentence = explain(exc)
            log.exception("reaction.capture_failed", target=event.target.message_id, why=sentence)
            text = sentence or (
                "I could not capture that message because of an error on my side; it is logged."
            )
        answer = OutboundMessage(
            text, idempotency_key=f"reply:{event.event_id}", maybe_posted=taken.resumed
        )
        await port.post(channel, answer, reply_to=event.target)
        await self._seen.done(channel.platform, event.event_id)

    async def _accept_suggested_tags(
        self, community: CommunityInfo, member: MemberInfo, target: MessageRef
    ) -> str:
        insights = self._insights
        insight = await insights.find_by_source(community.id, *_key(target)[:3], target.message_id)
        if insight is None:
            return "That message is not captured yet: react 💡 first."
        suggested = await self._assist.suggest_tags(community, insight.body)
        if not suggested:
            return f"I have no tags to suggest for insight #{insight.id}."
        updated = await insights.retag(
            community.id, insight.id, member, [*insight.tags, *suggested]
        )
        return f"🏷️ Insight #{updated.id} is now tagged {formatting.tag_list(updated.tags)}."

    async def message_posted(self, event: MessagePosted, port: OutboundPort) -> None:
        """A plain message: it matters when it answers a ritual round."""
        with structlog.contextvars.bound_contextvars(
            message=event.message.ref.message_id, platform=event.message.ref.channel.platform
        ):
            self._metrics.inbound_events.labels(event.message.ref.channel.platform, "message").inc()
            try:
                await self._rituals.message_posted(event)
            except Exception:
                log.exception("message.handling_failed", message=event.message.ref.message_id)
            await self._relays.message_posted(event)

    async def message_edited(self, event: MessageEdited) -> None:
        """An edited source keeps the insight in step; the old words stay as a revision."""
        with structlog.contextvars.bound_contextvars(
            message=event.ref.message_id, platform=event.ref.channel.platform
        ):
            self._metrics.inbound_events.labels(event.ref.channel.platform, "edit").inc()
            await self._rituals.message_edited(event)
            await self._relays.message_edited(event)
            changed = await self._insights.source_edited(*_key(event.ref), event.text)
            if changed:
                log.info("source.edited", insight=changed)

    async def message_deleted(self, event: MessageDeleted) -> None:
        """A deleted source is marked; the insight stays unless its author deletes it."""
        with structlog.contextvars.bound_contextvars(
            message=event.ref.message_id, platform=event.ref.channel.platform
        ):
            self._metrics.inbound_events.labels(event.ref.channel.platform, "deletion").inc()
            await self._rituals.message_deleted(event)
            await self._relays.message_deleted(event)
            changed = await self._insights.source_deleted(*_key(event.ref))
            if changed:
                log.info("source.deleted", insight=changed)


def _key(ref: MessageRef) -> tuple[str, str, str, str]:
    return ref.channel.platform, ref.channel.space, ref.channel.channel, ref.message_id
