"""The console adapter: Hearth in a terminal, for people (readline) and for scripts (stdin).

Plain lines are messages in the current channel; lines starting with `/` are also
commands; lines starting with `:` act on the console itself (`:as bob`, `:react 3 💡`).
It implements the same outbound port as the chat platforms.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import Callable
from typing import Protocol, TextIO

import structlog

from adapters.console.directives import DIRECTIVE_HELP, Directive, parse_directive
from adapters.console.outbound import BOT_NAME, PLATFORM, ClaimNumber, ConsolePort
from adapters.console.stdin import LineReader, UnreadableLine, stdin_reader
from adapters.console.transcript import Transcript
from bot.adapter import Clock, SystemClock
from bot.commands.parse import split_command_line
from bot.commands.spec import Reply
from bot.config import ConsoleConfig
from bot.direct import CHOICE_ID
from bot.events import (
    ChannelRef,
    CommandInvoked,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    ReactionAdded,
)
from bot.inbound import Answer, Inbound

log = structlog.get_logger(__name__)

PREFIX = "/"
COMMUNITY_KEY = "community:"  # `:dm community:<slug> …`: the console's menu of communities

STOP_GRACE_SECONDS = 10.0  # how long stop() lets the line being handled finish


class Counters(Protocol):
    """Counters kept in the store (knowledge.sync_tokens.SyncTokens): never go back."""

    async def advance(self, platform: str, key: str, at_least: int) -> int: ...


def database_numbers(tokens: Counters, space: str) -> ClaimNumber:
    """Message numbers kept in the store beside the transcript (see ConsoleAdapter)."""

    async def claim(at_least: int) -> int:
        return await tokens.advance(PLATFORM, f"message-numbers:{space}", at_least)

    return claim


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class ConsoleAdapter(ConsolePort):
    def __init__(
        self,
        config: ConsoleConfig,
        read_line: LineReader | None = None,
        out: TextIO | None = None,
        *,
        clock: Clock | None = None,
        on_quit: Callable[[], None] | None = None,
        numbers: ClaimNumber | None = None,
    ) -> None:
        super().__init__(
            config, Transcript(config.transcript, clock or SystemClock()), out, numbers
        )
        self._read_line = read_line or stdin_reader(lambda: f"{self._user}@#{self._channel}> ")
        self._on_quit = on_quit  # `:quit` asks Hearth to stop; without it, the console ends
        # Message numbers come from the transcript file, which another console (another
        # folder on the same database, a deleted transcript) may reuse: events carry this
        # run's own token so the inbound log never takes them for ones already handled.
        self._run_id = uuid.uuid4().hex[:12]
        self._inbound: Inbound | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._reading: asyncio.Future[str | None] | None = None
        self._stopping = False

    # lifecycle -----------------------------------------------------------------------

    async def connect(self) -> None:
        self._transcript.open()

    async def start(self, inbound: Inbound) -> None:
        self._inbound = inbound
        self._say(
            f"Hearth console: you are {self._user} in #{self._channel}. "
            "Type /help for commands, :help for console keys, :quit to leave."
        )
        self._loop_task = asyncio.create_task(self._read_loop(), name="console")

    async def readiness(self) -> str | None:
        return None  # a terminal is always there; its end only stops the console

    async def wait_closed(self) -> None:
        """Return when the input has ended or :quit was typed; raise if the loop failed."""
        if self._loop_task is not None:
            await asyncio.shield(self._loop_task)

    async def stop(self) -> None:
        """Stop reading; the line being handled finishes (within STOP_GRACE_SECONDS)."""
        self._stopping = True
        if self._reading is not None:
            self._reading.cancel()
        task = self._loop_task
        if task is not None and not task.done():
            try:
                await asyncio.wait_for(asyncio.shield(task), STOP_GRACE_SECONDS)
            except TimeoutError:
                log.warning("console.stop_interrupted", grace_seconds=STOP_GRACE_SECONDS)
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            except Exception:  # already reported by whoever watched wait_closed()
                pass
        self._transcript.close()

    async def _read_loop(self) -> None:
        """Every line gets handled or one `!` line saying why not; only the end of the
        input, :quit or stop() end the loop."""
        while not self._stopping:
            try:
                line = await self._next_line()
            except UnreadableLine as exc:
                self._say(f"! {exc}")
                continue
            if line is None:
                log.info("console.input_ended")
                return
            line = line.rstrip("\r\n")
            if line.strip() in (":quit", ":q"):
                if self._on_quit is not None:
                    self._on_quit()
                return
            if line.strip():
                await self._handle_safely(line)

    async def _next_line(self) -> str | None:
        """The next line; None when the input ended or stop() cancelled the wait."""
        self._reading = asyncio.ensure_future(self._read_line())
        try:
            return await self._reading
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if self._stopping and (task is None or not task.cancelling()):
                return None  # only the wait for input was cancelled, by stop()
            raise
        finally:
            self._reading = None

    async def _handle_safely(self, line: str) -> None:
        try:
            await self.handle_line(line)
        except Exception:
            incident = uuid.uuid4().hex[:8]
            log.exception("console.line_failed", incident=incident)
            self._say(
                f"! Something went wrong with that line on my side (incident {incident}); "
                "it is logged. The console goes on."
            )

    def _event_id(self, kind: str, message_id: int) -> str:
        return f"{self._run_id}:{kind}{message_id}"

    # input ---------------------------------------------------------------------------

    async def handle_line(self, line: str) -> None:
        line = _LONE_SURROGATE.sub("\ufffd", line)  # undecodable input bytes: not storable
        if line.startswith(":"):
            directive = parse_directive(line)
            if isinstance(directive, str):
                self._say(f"! {directive}")
            else:
                await self._directive(directive)
            return
        await self._post_as_user(line, reply_to=None)

    async def _post_as_user(self, text: str, reply_to: int | None) -> None:
        if reply_to is not None and self._transcript.get(reply_to) is None:
            self._say(f"! There is no message #{reply_to} to reply to.")
            return
        target = None if reply_to is None else self._transcript.get(reply_to)
        if target is not None and target.channel != self._channel:
            # A reply lives in its message's channel (as on every platform): never here.
            self._say(
                f"! #{reply_to} is in #{target.channel}, not #{self._channel}: switch with "
                f"`:channel {target.channel}` to reply to it."
            )
            return
        message = await self._add(
            self._config.space, self._channel, self._user, text, reply_to=reply_to
        )
        self._print(message)
        assert self._inbound is not None
        command = split_command_line(text, PREFIX)
        if command is None:
            await self._inbound.message_posted(
                MessagePosted(
                    self._chat_message(message),
                    reply_to=None if reply_to is None else self._ref(reply_to),
                ),
                self,
            )
            return
        name, rest = command
        event = CommandInvoked(
            name=name,
            invoker=self._me(),
            channel=self._here(),
            event_id=self._event_id("", message.id),
            text=rest,
            message=self._chat_message(message),
            reply_to=None if reply_to is None else self._ref(reply_to),
        )
        here, ref = self._here(), self._ref(message.id)

        async def deliver(answer: Answer) -> None:  # keyed: a rerun finds it in the transcript
            await self.post(here, answer.message(), reply_to=ref)

        await self._inbound.command(event, self, PREFIX, deliver)

    async def _directive(self, directive: Directive) -> None:
        assert self._inbound is not None
        if directive.name == "help":
            self._say(DIRECTIVE_HELP)
        elif directive.name == "as":
            self._user = directive.argument
            self._say(f"* you are now {self._user}")
        elif directive.name == "channel":
            self._channel = directive.argument.lstrip("#")
            self._say(f"* you are now in #{self._channel}")
        elif directive.name == "reply":
            assert directive.message_id is not None
            await self._post_as_user(directive.argument, reply_to=directive.message_id)
        elif directive.name == "react":
            assert directive.message_id is not None
            target = self._transcript.get(directive.message_id)
            if target is None or target.deleted:
                self._say(f"! There is no message #{directive.message_id} to react to.")
                return
            reaction = await self._add(
                target.space,
                target.channel,
                self._user,
                directive.argument,
                kind="reaction",
                reply_to=target.id,
            )
            self._say(f"* {self._user} reacted {directive.argument} to #{target.id}")
            await self._inbound.reaction(
                ReactionAdded(
                    self._ref(target.id, target),
                    directive.argument,
                    self._me(),
                    event_id=self._event_id("reaction-", reaction.id),
                ),
                self,
            )
        elif directive.name == "dm":
            await self._direct_message(directive.argument)
        elif directive.name in ("edit", "delete"):
            await self._change_own(directive)

    async def _direct_message(self, text: str) -> None:
        """A private message to the bot: only commands mean anything there.

        `community:<slug>` first picks the community these DMs belong to (asked when the
        console holds several, bot.direct); a command may follow on the same line."""
        assert self._inbound is not None
        dm = ChannelRef(PLATFORM, self._config.space, f"dm-{self._user}")
        message = await self._add(dm.space, dm.channel, self._user, text)
        self._say(f"#{message.id} {self._user} (to {BOT_NAME}, privately): {text}")
        first, _, rest = text.partition(" ")
        if first.lower().startswith(COMMUNITY_KEY):
            reply = await self._inbound.choose_direct(
                dm, self._me(), first[len(COMMUNITY_KEY) :], self
            )
            self._print_block(f"(only {self._user}) {BOT_NAME}", reply.text)
            if not rest.strip():
                return
            text = rest.strip()
        command = split_command_line(text, PREFIX)
        if command is None:
            self._say(
                f"(only {self._user}) {BOT_NAME}: I only understand commands here, e.g. /help"
            )
            return
        name, rest = command
        event = CommandInvoked(
            name=name,
            invoker=self._me(),
            channel=dm,
            event_id=self._event_id("", message.id),
            text=rest,
            message=self._chat_message(message),
            direct=True,
        )
        user = self._user

        async def deliver(answer: Answer) -> None:
            self._print_block(f"(only {user}) {BOT_NAME}", _with_choices(answer.reply))

        await self._inbound.command(event, self, PREFIX, deliver)

    async def _change_own(self, directive: Directive) -> None:
        assert self._inbound is not None and directive.message_id is not None
        target = self._transcript.get(directive.message_id)
        if target is None or target.deleted or target.user != self._user:
            self._say(f"! You have no message #{directive.message_id} to {directive.name}.")
            return
        ref = self._ref(target.id, target)
        if directive.name == "edit":
            self._transcript.update(target.id, text=directive.argument)
            self._say(f"* #{target.id} edited: {directive.argument}")
            await self._inbound.message_edited(MessageEdited(ref, directive.argument, self._me()))
        else:
            self._transcript.update(target.id, deleted=True)
            self._say(f"* #{target.id} deleted")
            await self._inbound.message_deleted(MessageDeleted(ref))


def _with_choices(reply: Reply) -> str:
    """A reply's menu, as the console's way to answer it (it has no menus)."""
    if reply.choices is None or reply.choices[0] != CHOICE_ID:
        return reply.text
    ways = " or ".join(f"`:dm {COMMUNITY_KEY}{slug}`" for slug, _ in reply.choices[1])
    return f"{reply.text}\nType {ways} (your command may follow on the same line)."
