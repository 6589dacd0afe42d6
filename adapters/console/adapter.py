"""The console adapter: Hearth in a terminal, for people (readline) and for scripts (stdin).

Plain lines are messages in the current channel; lines starting with `/` are also
commands; lines starting with `:` act on the console itself (`:as bob`, `:react 3 💡`).
It implements the same outbound port as the chat platforms.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import re
import sys
import threading
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TextIO

import structlog

from adapters.console.directives import DIRECTIVE_HELP, Directive, parse_directive
from adapters.console.transcript import ConsoleMessage, Transcript
from bot.commands.parse import split_command_line
from bot.config import ConsoleConfig
from bot.events import (
    ChannelRef,
    ChatMessage,
    CommandInvoked,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    MessageRef,
    ReactionAdded,
    UserRef,
)
from bot.inbound import Answer, Inbound
from bot.port import Capabilities, Changes, OutboundMessage, TargetGone
from bot.text import parse, to_plain, to_terminal
from knowledge.clock import Clock, SystemClock
from knowledge.sync_tokens import SyncTokens

log = structlog.get_logger(__name__)

PLATFORM = "console"
BOT_NAME = "hearth"
PREFIX = "/"

LineReader = Callable[[], Awaitable[str | None]]
ClaimNumber = Callable[[int], Awaitable[int]]  # at least this → a number never used before
STOP_GRACE_SECONDS = 10.0  # how long stop() lets the line being handled finish


class UnreadableLine(Exception):
    """One input line that cannot be read (not valid text); reading goes on after it."""


def _undecodable(raw: bytes, exc: UnicodeDecodeError, encoding: str) -> UnreadableLine:
    return UnreadableLine(
        f"That line is not valid {encoding.upper()} text (byte 0x{raw[exc.start]:02x} at position "
        f"{exc.start + 1}); it was ignored."
    )


def stdin_reader(prompt: Callable[[], str], stream: TextIO | None = None) -> LineReader:
    """Lines from stdin, read one at a time on request by a daemon thread.

    A daemon thread (not the default executor) so Ctrl-C ends the program at once; one
    line per request so the prompt never appears before the previous line's replies.
    Bytes are decoded here, so a line that is not valid text is reported and skipped
    instead of ending the input.
    """
    stream = stream or sys.stdin
    interactive = stream is sys.stdin and stream.isatty()
    if interactive:
        import readline  # noqa: F401  (enables line editing and history for input())

        _restore_terminal_at_exit(stream)
    encoding = getattr(stream, "encoding", None) or "utf-8"
    piped: _FdLines | None = None
    wanted = threading.Semaphore(0)
    lines: asyncio.Queue[str | UnreadableLine | None] | None = None

    def read() -> str | UnreadableLine | None:
        nonlocal piped
        try:
            if interactive:  # input() decodes with surrogateescape: a bad byte is U+DCxx
                line = input(prompt())
                escaped = re.search("[\udc80-\udcff]", line)
                if escaped is None:
                    return line
                return UnreadableLine(
                    f"That line is not valid {encoding.upper()} text (byte "
                    f"0x{ord(escaped[0]) - 0xDC00:02x}); it was ignored."
                )
            piped = piped or _FdLines(stream.fileno())
            raw = piped.readline()
            if not raw:
                return None
            try:
                return raw.decode(encoding)
            except UnicodeDecodeError as exc:
                return _undecodable(raw, exc, encoding)
        except EOFError:
            return None
        except UnicodeDecodeError as exc:  # input() on a terminal sending bad bytes
            return _undecodable(exc.object, exc, encoding)
        except (OSError, ValueError) as exc:  # stdin closed or gone: the input has ended
            log.warning("console.input_unreadable", error=repr(exc))
            return None

    def pump(
        loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[str | UnreadableLine | None]
    ) -> None:
        while True:
            wanted.acquire()
            line = read()
            try:
                loop.call_soon_threadsafe(queue.put_nowait, line)
            except RuntimeError:  # the loop has closed: nobody is reading any more
                return
            if line is None:
                return

    async def next_line() -> str | None:
        nonlocal lines
        if lines is None:
            lines = asyncio.Queue()
            loop = asyncio.get_running_loop()
            threading.Thread(target=pump, args=(loop, lines), daemon=True).start()
        wanted.release()
        line = await lines.get()
        if isinstance(line, UnreadableLine):
            raise line
        return line

    return next_line


def _restore_terminal_at_exit(stream: TextIO) -> None:
    """Stopping while readline waits for a line would leave the terminal without echo:
    put back the settings it had (atexit handlers run however `hearth` exits)."""
    try:
        import termios

        fd = stream.fileno()
        saved = termios.tcgetattr(fd)
    except (ImportError, OSError, ValueError):
        return
    atexit.register(lambda: _quietly(lambda: termios.tcsetattr(fd, termios.TCSADRAIN, saved)))


def _quietly(action: Callable[[], object]) -> None:
    with contextlib.suppress(OSError, ValueError):
        action()


class _FdLines:
    """Lines straight from a file descriptor. Not `sys.stdin`: a daemon thread blocked in
    its buffered reader holds a lock that makes interpreter shutdown abort (SIGABRT)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._pending = b""
        self._ended = False

    def readline(self) -> bytes:
        while b"\n" not in self._pending and not self._ended:
            chunk = os.read(self._fd, 65536)
            self._ended = not chunk
            self._pending += chunk
        line, newline, self._pending = self._pending.partition(b"\n")
        return line + newline


def database_numbers(tokens: SyncTokens, space: str) -> ClaimNumber:
    """Message numbers kept in the store beside the transcript (see ConsoleAdapter)."""

    async def claim(at_least: int) -> int:
        return await tokens.advance(PLATFORM, f"message-numbers:{space}", at_least)

    return claim


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class ConsoleAdapter:
    platform = PLATFORM
    capabilities = Capabilities(threads=True, edits=True, ephemeral=True)

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
        self._config = config
        self._user = config.user
        self._channel = config.channel
        self._transcript = Transcript(config.transcript, clock or SystemClock())
        self._read_line = read_line or stdin_reader(lambda: f"{self._user}@#{self._channel}> ")
        self._out = out or sys.stdout
        self._styled = _is_terminal(self._out)
        self._on_quit = on_quit  # `:quit` asks Hearth to stop; without it, the console ends
        # Message numbers come from the transcript file, which another console (another
        # folder on the same database, a deleted transcript) may reuse: events carry this
        # run's own token so the inbound log never takes them for ones already handled.
        self._run_id = uuid.uuid4().hex[:12]
        # With `numbers` (the database), message numbers also agree with every other
        # console on that database, so a message's source identity is never reused.
        self._numbers = numbers
        self._numbering = asyncio.Lock()
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

    async def _add(
        self, space: str, channel: str, user: str, text: str, **fields: Any
    ) -> ConsoleMessage:
        """A new transcript message, numbered by the database when there is one."""
        async with self._numbering:
            number = None
            if self._numbers is not None:
                try:
                    number = await self._numbers(self._transcript.next_id)
                except Exception as exc:  # the store is busy or down: the command will say so
                    log.warning("console.numbering_unavailable", error=repr(exc))
            return self._transcript.add(space, channel, user, text, number=number, **fields)

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
        """A private message to the bot: only commands mean anything there."""
        assert self._inbound is not None
        dm = ChannelRef(PLATFORM, self._config.space, f"dm-{self._user}")
        message = await self._add(dm.space, dm.channel, self._user, text)
        self._say(f"#{message.id} {self._user} (to {BOT_NAME}, privately): {text}")
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
            self._print_block(f"(only {user}) {BOT_NAME}", answer.reply.text)

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

    # outbound port -------------------------------------------------------------------

    async def post(
        self,
        channel: ChannelRef,
        message: OutboundMessage,
        *,
        thread: MessageRef | None = None,
        reply_to: MessageRef | None = None,
    ) -> MessageRef:
        parent = reply_to or thread
        parent_id = int(parent.message_id) if parent is not None else None
        if message.ephemeral:
            self._print_block(f"(only {self._user}) {BOT_NAME}", message.text)
            return MessageRef(channel, "ephemeral")
        key = message.idempotency_key
        earlier = self._transcript.by_key(key) if key is not None else None
        if earlier is not None:
            return self._ref(earlier.id, earlier)
        if parent_id is not None:  # a thread whose root was deleted is gone
            root = self._transcript.get(parent_id)
            if root is not None and (root.deleted or root.channel != channel.channel):
                raise TargetGone(f"message {parent_id} is gone from #{channel.channel}")
        shown_as = _shown_as(message)
        posted = await self._add(
            channel.space,
            channel.channel,
            BOT_NAME,
            _console_text(message),
            reply_to=parent_id,
            key=key,
            shown_as=shown_as,
        )
        self._print(posted)
        return self._ref(posted.id, posted)

    async def edit(self, ref: MessageRef, message: OutboundMessage) -> None:
        current = self._transcript.get(int(ref.message_id))
        if current is None or current.deleted:
            raise TargetGone(f"no console message {ref.message_id}")
        text = _console_text(message)
        self._transcript.update(int(ref.message_id), text=text)
        self._print_block(
            f"* #{ref.message_id} edited by {BOT_NAME}", text, markup=message.attribution is None
        )

    async def delete(self, ref: MessageRef) -> None:
        current = self._transcript.get(int(ref.message_id))
        if current is None or current.deleted:
            raise TargetGone(f"no console message {ref.message_id}")
        self._transcript.update(int(ref.message_id), deleted=True)
        self._say(f"* #{ref.message_id} deleted by {BOT_NAME}")

    async def react(self, ref: MessageRef, emoji: str) -> None:
        self._say(f"* {BOT_NAME} reacted {emoji} to #{ref.message_id}")

    async def fetch_message(self, ref: MessageRef) -> ChatMessage:
        message = self._transcript.get(int(ref.message_id)) if _is_number(ref.message_id) else None
        if message is None or message.deleted or message.channel != ref.channel.channel:
            raise TargetGone(f"no console message {ref.message_id} in #{ref.channel.channel}")
        return self._chat_message(message)

    async def fetch_thread(self, ref: MessageRef) -> list[ChatMessage]:
        """The root and its replies; a deleted or unknown root is gone, as on Matrix."""
        root = self._transcript.get(int(ref.message_id)) if ref.message_id.isdigit() else None
        if root is None or root.deleted or root.channel != ref.channel.channel:
            raise TargetGone(f"no console message {ref.message_id} in #{ref.channel.channel}")
        return [self._chat_message(m) for m in self._transcript.thread(root.id)]

    async def changes_since(self, position: str | None) -> Changes:
        """The transcript is the console's history: what was written after `position`."""
        now = self._transcript.position
        saved = int(position) if position is not None and position.isdigit() else None
        if saved is None or saved > now:  # nothing saved yet, or another transcript
            return Changes(str(now), None)
        touched = self._transcript.touched_since(saved)
        return Changes(str(now), frozenset((s, c, str(i)) for s, c, i in touched))

    def permalink(self, ref: MessageRef) -> str:
        return f"console://{ref.channel.space}/{ref.channel.channel}/{ref.message_id}"

    def resolve_channel(self, text: str, here: ChannelRef) -> ChannelRef | None:
        if text.lower() == "here":
            return here
        name = text.removeprefix("#")
        if not text.startswith("#") or not re.fullmatch(r"[\w-]{1,80}", name):
            return None
        return ChannelRef(PLATFORM, here.space, name)

    def resolve_reference(self, text: str, channel: ChannelRef) -> MessageRef | None:
        prefix = f"console://{channel.space}/{channel.channel}/"
        candidate = text.removeprefix(prefix).lstrip("#")
        return MessageRef(channel, candidate) if _is_number(candidate) else None

    # helpers -------------------------------------------------------------------------

    def _me(self) -> UserRef:
        return UserRef(PLATFORM, self._user, self._user)

    def _here(self) -> ChannelRef:
        return ChannelRef(PLATFORM, self._config.space, self._channel)

    def _ref(self, message_id: int, message: ConsoleMessage | None = None) -> MessageRef:
        if message is None:
            return MessageRef(self._here(), str(message_id))
        return MessageRef(ChannelRef(PLATFORM, message.space, message.channel), str(message_id))

    def _chat_message(self, message: ConsoleMessage) -> ChatMessage:
        ref = self._ref(message.id, message)
        return ChatMessage(
            ref=ref,
            author=UserRef(PLATFORM, message.user, message.user),
            text=message.text,
            permalink=self.permalink(ref),
            posted_at=datetime.fromisoformat(message.at),
            from_bot=message.user == BOT_NAME,
        )

    def _print(self, message: ConsoleMessage) -> None:
        to = f" → #{message.reply_to}" if message.reply_to else ""
        who = f"{message.shown_as} via {BOT_NAME}" if message.shown_as else message.user
        ours = message.user == BOT_NAME and message.shown_as is None  # relayed: plain already
        self._print_block(f"#{message.id} {who}{to}", message.text, markup=ours)

    def _print_block(self, head: str, text: str, *, markup: bool = True) -> None:
        """`markup`: Hearth's own Markdown, shown styled on a terminal or else as plain text;
        what people typed is shown as typed."""
        if markup:
            text = to_terminal(parse(text), styled=self._styled)
        lines = text.splitlines() or [""]
        body = "\n".join([lines[0], *(f"    {line}" for line in lines[1:])])
        self._say(f"{head}: {body}")

    def _say(self, text: str) -> None:
        print(text, file=self._out, flush=True)


def _is_number(text: str) -> bool:
    """A message number as the console writes them ("²".isdigit() is True, int() refuses)."""
    return 0 < len(text) <= 18 and text.isascii() and text.isdigit()


def _is_terminal(out: TextIO) -> bool:
    try:
        return out.isatty()
    except (AttributeError, ValueError):
        return False


def _shown_as(message: OutboundMessage) -> str | None:
    credit = message.attribution
    return None if credit is None else f"{credit.author} ({credit.community})"


def _console_text(message: OutboundMessage) -> str:
    """Relayed copies: the original's document as plain text, mentions as plain names."""
    if message.attribution is None:
        return message.text
    text = to_plain(message.relay_document(), for_relay=True)
    link = message.attribution.link  # console:// is no web link: shown as text
    return f"{text}\n↪ {link}" if link else text
