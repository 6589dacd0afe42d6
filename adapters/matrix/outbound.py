"""The Matrix outbound port: neutral messages out as `m.notice`, errors as typed failures.

Why `m.notice`: the Matrix convention for bots; other bots do not answer notices, so two
bots in one room never talk to each other in a loop. Every message carries `m.mentions`
(even empty), so clients never guess pings from names in the body, and the HTML comes
from `bot.text.to_matrix`, which escapes everything and defuses `@room`.

Why retries here: nio already sleeps through 429s (bounded by the client config) and
reconnects on timeouts; 5xx answers it returns as errors, and those are retried here with
exponential backoff before a `Transient` is raised for the caller to decide.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import unquote

from nio import (  # type: ignore[import-untyped]
    AsyncClient,
    ErrorResponse,
    RoomGetEventResponse,
)
from nio.api import RelationshipType  # type: ignore[import-untyped]

from bot.events import ChannelRef, ChatMessage, MessageRef, UserRef
from bot.port import (
    Capabilities,
    Forbidden,
    OutboundMessage,
    RateLimited,
    TargetGone,
    Transient,
)
from bot.text import from_matrix_html, matrix_mentions, parse, to_matrix, to_plain

PLATFORM = "matrix"
HTML = "org.matrix.custom.html"
SERVER_RETRIES = 3
_PERMALINK = re.compile(r"^https://matrix\.to/#/([!#][^/?\s]+)/(\$[^/?\s]+)")
_EVENT_ID = re.compile(r"^\$[A-Za-z0-9_\-+/=.:]+$")
T = TypeVar("T")


def permalink(room_id: str, event_id: str) -> str:
    return f"https://matrix.to/#/{room_id}/{event_id}"


def relation(content: dict[str, Any]) -> dict[str, Any]:
    value = content.get("m.relates_to")
    return value if isinstance(value, dict) else {}


def thread_root(content: dict[str, Any]) -> str | None:
    rel = relation(content)
    return str(rel["event_id"]) if rel.get("rel_type") == "m.thread" else None


def reply_target(content: dict[str, Any]) -> str | None:
    """The event replied to; a thread's fallback reply (`is_falling_back`) is not one."""
    rel = relation(content)
    if rel.get("rel_type") == "m.thread" and rel.get("is_falling_back", False):
        return None
    in_reply_to = rel.get("m.in_reply_to")
    return str(in_reply_to["event_id"]) if isinstance(in_reply_to, dict) else None


def plain_text(content: dict[str, Any]) -> str:
    """A message's text for Hearth: sanitised, reply fallback dropped, pills as names."""
    html = content.get("formatted_body") if content.get("format") == HTML else None
    return to_plain(from_matrix_html(html, str(content.get("body") or "")))


def check(response: Any) -> Any:
    """nio returns error objects instead of raising; turn them into typed failures."""
    if not isinstance(response, ErrorResponse):
        return response
    code, message = str(response.status_code or ""), str(response.message or "")
    if code == "M_LIMIT_EXCEEDED":
        raise RateLimited((getattr(response, "retry_after_ms", 0) or 1000) / 1000)
    if code == "M_FORBIDDEN":
        raise Forbidden(message or code)
    if code == "M_NOT_FOUND" or "Unknown room" in message:
        raise TargetGone(message or code)
    raise Transient(f"{code}: {message}".strip(": "))


class MatrixPort:
    """OutboundPort over a logged-in nio client (the adapter adds the lifecycle)."""

    platform = PLATFORM
    capabilities = Capabilities(threads=True, edits=True, ephemeral=False)

    def __init__(self, client: AsyncClient, server_name: str) -> None:
        self.client = client
        self.server_name = server_name

    async def _call(self, request: Callable[[], Awaitable[T]]) -> T:
        """One API call, with 5xx and connection failures retried by exponential backoff."""
        delay = 0.2
        for attempt in range(SERVER_RETRIES + 1):
            try:
                response = await request()
            except (OSError, TimeoutError) as exc:
                if attempt == SERVER_RETRIES:
                    raise Transient(f"homeserver unreachable: {exc!r}") from exc
            else:
                transport = getattr(response, "transport_response", None)
                status = getattr(transport, "status", 200) if transport is not None else 200
                if not (isinstance(response, ErrorResponse) and status >= 500):
                    result: T = check(response)
                    return result
                if attempt == SERVER_RETRIES:
                    check(response)
            await asyncio.sleep(delay)
            delay *= 2
        raise Transient("unreachable")  # pragma: no cover - the loop always returns or raises

    def _content(self, message: OutboundMessage) -> dict[str, Any]:
        doc = parse(message.text)
        body, html = to_matrix(doc)
        return {
            "msgtype": "m.notice",
            "body": body,
            "format": HTML,
            "formatted_body": html,
            "m.mentions": matrix_mentions(doc),
        }

    async def _send(self, room_id: str, event_type: str, content: dict[str, Any]) -> str:
        response = await self._call(
            lambda: self.client.room_send(
                room_id, event_type, content, ignore_unverified_devices=True
            )
        )
        return str(response.event_id)

    async def post(
        self,
        channel: ChannelRef,
        message: OutboundMessage,
        *,
        thread: MessageRef | None = None,
        reply_to: MessageRef | None = None,
    ) -> MessageRef:
        content = self._content(message)
        root = (thread.thread_id or thread.message_id) if thread else None
        root = root or (reply_to.thread_id if reply_to else None)
        if root is not None:
            replied = reply_to.message_id if reply_to else root
            content["m.relates_to"] = {
                "rel_type": "m.thread",
                "event_id": root,
                "is_falling_back": reply_to is None,
                "m.in_reply_to": {"event_id": replied},
            }
        elif reply_to is not None:
            content["m.relates_to"] = {"m.in_reply_to": {"event_id": reply_to.message_id}}
        event_id = await self._send(channel.channel, "m.room.message", content)
        return MessageRef(channel, event_id, thread_id=root)

    async def edit(self, ref: MessageRef, message: OutboundMessage) -> None:
        new = self._content(message)
        content = {
            **new,
            "body": f"* {new['body']}",
            "formatted_body": f"* {new['formatted_body']}",
            "m.new_content": new,
            "m.relates_to": {"rel_type": "m.replace", "event_id": ref.message_id},
        }
        await self._send(ref.channel.channel, "m.room.message", content)

    async def delete(self, ref: MessageRef) -> None:
        await self._call(lambda: self.client.room_redact(ref.channel.channel, ref.message_id))

    async def react(self, ref: MessageRef, emoji: str) -> None:
        content = {
            "m.relates_to": {"rel_type": "m.annotation", "event_id": ref.message_id, "key": emoji}
        }
        await self._send(ref.channel.channel, "m.reaction", content)

    def display_name(self, room_id: str, user_id: str) -> str:
        room = self.client.rooms.get(room_id)
        name = room.user_name(user_id) if room is not None else None
        return name or user_id

    def chat_message(self, room_id: str, source: dict[str, Any]) -> ChatMessage:
        """A room event as a neutral message; an edited event shows its latest text."""
        content = source.get("content") or {}
        latest = ((source.get("unsigned") or {}).get("m.relations") or {}).get("m.replace")
        if isinstance(latest, dict) and isinstance(
            (latest.get("content") or {}).get("m.new_content"), dict
        ):
            content = latest["content"]["m.new_content"]
        event_id, sender = str(source.get("event_id")), str(source.get("sender"))
        channel = ChannelRef(PLATFORM, self.server_name, room_id)
        stamp = source.get("origin_server_ts")
        return ChatMessage(
            ref=MessageRef(channel, event_id, thread_id=thread_root(source.get("content") or {})),
            author=UserRef(PLATFORM, sender, self.display_name(room_id, sender)),
            text=plain_text(content),
            permalink=permalink(room_id, event_id),
            posted_at=datetime.fromtimestamp(stamp / 1000, UTC) if stamp else None,
        )

    async def fetch_message(self, ref: MessageRef) -> ChatMessage:
        room_id = ref.channel.channel
        response = await self._call(lambda: self.client.room_get_event(room_id, ref.message_id))
        assert isinstance(response, RoomGetEventResponse)
        source = response.event.source
        if not (source.get("content") or {}).get("body"):
            raise TargetGone("that message was deleted or has no text")
        return self.chat_message(room_id, source)

    async def fetch_thread(self, ref: MessageRef) -> list[ChatMessage]:
        room_id, root = ref.channel.channel, ref.thread_id or ref.message_id
        messages = [await self.fetch_message(MessageRef(ref.channel, root))]
        replies: list[ChatMessage] = []
        async for event in self.client.room_get_event_relations(
            room_id, root, RelationshipType.thread
        ):
            if event.source.get("type") == "m.room.message":
                replies.append(self.chat_message(room_id, event.source))
        return messages + sorted(replies, key=lambda m: m.posted_at or datetime.min)

    def permalink(self, ref: MessageRef) -> str:
        return permalink(ref.channel.channel, ref.message_id)

    def resolve_channel(self, text: str, here: ChannelRef) -> ChannelRef | None:
        if text.lower() == "here":
            return here
        if text.startswith("!") and ":" in text:
            return ChannelRef(PLATFORM, here.space, text)
        for room in self.client.rooms.values():
            if text.startswith("#") and text == room.canonical_alias:
                return ChannelRef(PLATFORM, here.space, room.room_id)
        return None

    def resolve_reference(self, text: str, channel: ChannelRef) -> MessageRef | None:
        match = _PERMALINK.match(text)
        if match:
            room = unquote(match.group(1))
            room_ref = self.resolve_channel(room, channel) or ChannelRef(
                PLATFORM, channel.space, room
            )
            return MessageRef(room_ref, unquote(match.group(2)))
        if _EVENT_ID.match(text):
            return MessageRef(channel, text)
        return None
