"""The console's outbound port: what Hearth posts, edits and deletes is printed and kept
in the transcript, the console's own message history (transcript.py)."""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TextIO

import structlog

from adapters.console.transcript import ConsoleMessage, Transcript
from bot.config import ConsoleConfig
from bot.events import ChannelRef, ChatMessage, MessageRef, UserRef
from bot.port import Capabilities, Changes, OutboundMessage, TargetGone
from bot.text import parse, to_plain, to_terminal

log = structlog.get_logger(__name__)

PLATFORM = "console"
BOT_NAME = "hearth"

ClaimNumber = Callable[[int], Awaitable[int]]  # at least this → a number never used before


class ConsolePort:
    platform = PLATFORM
    capabilities = Capabilities(threads=True, edits=True, ephemeral=True)

    def __init__(
        self,
        config: ConsoleConfig,
        transcript: Transcript,
        out: TextIO | None,
        numbers: ClaimNumber | None,
    ) -> None:
        self._config = config
        self._user = config.user
        self._channel = config.channel
        self._transcript = transcript
        self._out = out or sys.stdout
        self._styled = _is_terminal(self._out)
        # With `numbers` (the database), message numbers also agree with every other
        # console on that database, so a message's source identity is never reused.
        self._numbers = numbers
        self._numbering = asyncio.Lock()

    # the port -------------------------------------------------------------------

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
        message = self._transcript.get(int(ref.message_id)) if is_number(ref.message_id) else None
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
        return MessageRef(channel, candidate) if is_number(candidate) else None

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


def is_number(text: str) -> bool:
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
