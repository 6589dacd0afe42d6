"""The Matrix outbound port: neutral messages out as `m.notice`, errors as typed failures.

Why `m.notice`: the Matrix convention for bots; other bots do not answer notices, so two
bots in one room never talk to each other in a loop. Every message carries `m.mentions`
(even empty), so clients never guess pings from names in the body, and the HTML comes
from `bot.text.to_matrix`, which escapes everything and defuses `@room`.

Why relayed copies are `m.text`: they are people's words, not the bot's; clients render
notices greyed out and many do not notify for them, so a relayed conversation would read
as bot chatter and go unnoticed. The copy cannot ping anyone (rendered `for_relay`, empty
`m.mentions`), cannot trigger other bots' commands (it starts with the author prefix,
`**Author** (Community): …`), and carries `org.hearth.relay` so any Hearth (this one or
another's) recognises it as a relay and never relays it back (`ChatMessage.from_bot`).

Why transaction ids from `idempotency_key`: Synapse answers a repeated `PUT .../send/
<txn>` from the same device with the first event's id instead of posting again, and keeps
those ids (per device) across its own restarts for about a day. A device survives a
Hearth restart only with a fixed access token (or `device_id`); with a password login and
a new device, a send marked `maybe_posted` is also looked for among the bot's recent
messages by its `org.hearth.key`.

Why retries here: nio already sleeps through 429s (bounded by the client config) and
reconnects on timeouts; 5xx answers it returns as errors, and those are retried here with
exponential backoff before a `Transient` is raised for the caller to decide.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar
from urllib.parse import quote, unquote, urlparse
from uuid import uuid4

import stamina
from nio import (  # type: ignore[import-untyped]
    AsyncClient,
    ErrorResponse,
    RoomGetEventResponse,
    RoomResolveAliasResponse,
)
from nio.api import MessageDirection, RelationshipType  # type: ignore[import-untyped]

from bot.events import Attachment, ChannelRef, ChatMessage, MessageRef, UserRef
from bot.port import (
    Capabilities,
    Forbidden,
    OutboundMessage,
    RateLimited,
    TargetGone,
    Transient,
)
from bot.text import Document, from_matrix_html, matrix_mentions, to_matrix, to_words
from bot.text.relayed import with_author_prefix, with_source_link

PLATFORM = "matrix"
HTML = "org.matrix.custom.html"
SERVER_RETRIES = 3
RELAY_FIELD = "org.hearth.relay"  # on relayed copies: author, community, key
KEY_FIELD = "org.hearth.key"  # on every keyed send: its idempotency key
THREAD_MEMORY = 20_000  # events whose thread is remembered for their redaction
LOOKBACK = 200  # the bot's own recent messages searched for a maybe-posted key
FILE_TYPES = frozenset({"m.file", "m.image", "m.video", "m.audio"})
_PERMALINK = re.compile(r"^https://matrix\.to/#/([!#][^/?\s]+)/(\$[^/?\s]+)")
_EVENT_ID = re.compile(r"^\$[A-Za-z0-9_\-+/=.:]+$")
T = TypeVar("T")


def permalink(room_id: str, event_id: str, via: str = "") -> str:
    """A matrix.to link; `via` names a server that knows the room, which room ids without
    a server part (room version 12) need for the link to resolve at all."""
    link = f"https://matrix.to/#/{quote(room_id, safe='!:')}/{quote(event_id, safe='$:')}"
    server = via or (room_id.partition(":")[2])
    return f"{link}?via={quote(server, safe=':')}" if server else link


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
    return to_words(from_matrix_html(html, str(content.get("body") or "")))


def markup_of(content: dict[str, Any]) -> str | None:
    """A message's HTML (`ChatMessage.markup`), when it has some."""
    html = content.get("formatted_body") if content.get("format") == HTML else None
    return html if isinstance(html, str) else None


def media_url(homeserver: str, mxc: str, filename: str | None = None) -> str | None:
    """An `mxc://server/id` as a download URL on `homeserver` (no token in it).

    Why the unauthenticated `/_matrix/media/v3/download` path: the link is shown to people
    on other platforms, who have no Matrix access token; it works on homeservers that still
    serve media without one (Synapse's `enable_authenticated_media: false`), and on others
    it at least names the file on its homeserver.
    """
    url = urlparse(mxc)
    if url.scheme != "mxc" or not url.netloc or not url.path.strip("/"):
        return None
    tail = f"/{quote(filename, safe='')}" if filename else ""
    media_id = quote(url.path.strip("/"), safe="")
    return f"{homeserver.rstrip('/')}/_matrix/media/v3/download/{url.netloc}/{media_id}{tail}"


def attachments_of(homeserver: str, content: dict[str, Any]) -> tuple[Attachment, ...]:
    """The file an `m.file`/`m.image`/`m.video`/`m.audio` carries (encrypted ones: none).

    Its name is `filename` when the event has one (then `body` is a caption), else `body`.
    """
    if content.get("msgtype") not in FILE_TYPES or not isinstance(content.get("url"), str):
        return ()
    info = content.get("info")
    info = info if isinstance(info, dict) else {}
    name = str(content.get("filename") or content.get("body") or "file")
    url = media_url(homeserver, content["url"], name)
    if url is None:
        return ()
    size, mimetype = info.get("size"), info.get("mimetype")
    return (
        Attachment(
            name=name,
            url=url,
            size=size if isinstance(size, int) and not isinstance(size, bool) else None,
            content_type=mimetype if isinstance(mimetype, str) else None,
        ),
    )


def transaction_id(kind: str, key: str, *parts: str) -> str:
    """A deterministic transaction id for a keyed send (Synapse dedupes on it per device)."""
    digest = hashlib.sha256("\0".join((kind, key, *parts)).encode()).hexdigest()
    return f"hearth.{kind}.{digest[:40]}"


def relay_document(message: OutboundMessage) -> Document:
    """What a message shows: a relay's attributed copy, else its document or text."""
    doc = message.relay_document()
    credit = message.attribution
    if credit is None:
        return doc
    doc = with_author_prefix(doc, credit.author, credit.community)
    return with_source_link(doc, credit.link, credit.community)


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


class _ServerError(Exception):
    """A 5xx answer, raised so the retry loop tries again."""

    def __init__(self, response: ErrorResponse) -> None:
        super().__init__(str(response))
        self.response = response


class MatrixPort:
    """OutboundPort over a logged-in nio client (the adapter adds the lifecycle)."""

    platform = PLATFORM
    capabilities = Capabilities(threads=True, edits=True, ephemeral=False)

    def __init__(self, client: AsyncClient, server_name: str) -> None:
        self.client = client
        self.server_name = server_name
        self._threads: dict[str, str | None] = {}  # event id → thread root, newest last

    async def _call(self, request: Callable[[], Awaitable[T]]) -> T:
        """One API call, with 5xx and connection failures retried by exponential backoff."""
        try:
            async for attempt in stamina.retry_context(
                on=(OSError, TimeoutError, _ServerError),
                attempts=SERVER_RETRIES + 1,
                timeout=None,
                wait_initial=0.2,
                wait_jitter=0.1,
            ):
                with attempt:
                    response = await request()
                    transport = getattr(response, "transport_response", None)
                    status = getattr(transport, "status", 200) if transport is not None else 200
                    if isinstance(response, ErrorResponse) and status >= 500:
                        raise _ServerError(response)
                    result: T = check(response)
                    return result
        except _ServerError as exc:
            check(exc.response)  # the homeserver's own words, as a typed failure
        except (OSError, TimeoutError) as exc:
            raise Transient(f"homeserver unreachable: {exc!r}") from exc
        raise Transient("unreachable")  # pragma: no cover - the loop returns or raises

    def _content(self, message: OutboundMessage) -> dict[str, Any]:
        """The event content: a notice from the bot, or an attributed `m.text` relay."""
        relayed = message.attribution is not None
        doc = relay_document(message)
        body, html = to_matrix(doc, for_relay=relayed)
        content: dict[str, Any] = {
            "msgtype": "m.text" if relayed else "m.notice",
            "body": body,
            "format": HTML,
            "formatted_body": html,
            "m.mentions": {} if relayed else matrix_mentions(doc),
        }
        if message.attribution is not None:
            content[RELAY_FIELD] = {
                "author": message.attribution.author,
                "community": message.attribution.community,
                "key": message.idempotency_key,
            }
        return content

    async def _send(
        self, room_id: str, event_type: str, content: dict[str, Any], tx_id: str | None = None
    ) -> str:
        """One event; a retry (ours, or nio's after a 429) reuses the transaction id."""
        txn = tx_id or uuid4().hex
        response = await self._call(
            lambda: self.client.room_send(
                room_id, event_type, content, tx_id=txn, ignore_unverified_devices=True
            )
        )
        return str(response.event_id)

    async def _sent_before(self, room_id: str, key: str) -> str | None:
        """The bot's own recent message sent under `key`, if one is there (else None)."""
        me = self.client.user_id
        start: str | None = None
        seen = 0
        while seen < LOOKBACK:
            page = await self._call(
                partial(
                    self.client.room_messages,
                    room_id,
                    start=start,
                    direction=MessageDirection.back,
                    limit=min(100, LOOKBACK - seen),
                    message_filter={"senders": [me], "types": ["m.room.message"]},
                )
            )
            for event in page.chunk:
                content = event.source.get("content") or {}
                if content.get(KEY_FIELD) == key and event.source.get("sender") == me:
                    return str(event.source.get("event_id"))
            seen += len(page.chunk)
            if not page.chunk or not page.end or page.end == start:
                return None
            start = page.end
        return None

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
        key, tx_id = message.idempotency_key, None
        if key is not None:
            content[KEY_FIELD] = key
            tx_id = transaction_id("post", key)
            if message.maybe_posted:  # a new device would not know the transaction id
                earlier = await self._sent_before(channel.channel, key)
                if earlier is not None:
                    return MessageRef(channel, earlier, thread_id=root)
        event_id = await self._send(channel.channel, "m.room.message", content, tx_id)
        self.remember_thread(event_id, root)
        return MessageRef(channel, event_id, thread_id=root)

    async def edit(self, ref: MessageRef, message: OutboundMessage) -> None:
        """An `m.replace`; a keyed edit is sent once per (key, target, new content)."""
        new = self._content(message)
        content = {
            **new,
            "body": f"* {new['body']}",
            "formatted_body": f"* {new['formatted_body']}",
            "m.new_content": new,
            "m.relates_to": {"rel_type": "m.replace", "event_id": ref.message_id},
        }
        tx_id = None
        if message.idempotency_key is not None:
            shown = json.dumps(new, sort_keys=True, ensure_ascii=False)
            tx_id = transaction_id("edit", message.idempotency_key, ref.message_id, shown)
        await self._send(ref.channel.channel, "m.room.message", content, tx_id)

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
        original = source.get("content") or {}
        root = thread_root(original)
        self.remember_thread(event_id, root)
        return ChatMessage(
            ref=MessageRef(channel, event_id, thread_id=root),
            author=UserRef(PLATFORM, sender, self.display_name(room_id, sender)),
            text=plain_text(content),
            permalink=permalink(room_id, event_id, self.server_name),
            posted_at=datetime.fromtimestamp(stamp / 1000, UTC) if stamp else None,
            markup=markup_of(content),
            attachments=attachments_of(self.client.homeserver, content),
            avatar_url=self.avatar_url(room_id, sender),
            from_bot=sender == self.client.user_id or RELAY_FIELD in original,
        )

    def avatar_url(self, room_id: str, user_id: str) -> str | None:
        """The member's avatar as an HTTP URL, from the room state nio already holds."""
        room = self.client.rooms.get(room_id)
        mxc = room.avatar_url(user_id) if room is not None else None
        return media_url(self.client.homeserver, mxc) if isinstance(mxc, str) else None

    def remember_thread(self, event_id: str, root: str | None) -> None:
        """Which thread an event is in, for its redaction (which strips `m.relates_to`)."""
        self._threads[event_id] = root
        if len(self._threads) > THREAD_MEMORY:
            del self._threads[next(iter(self._threads))]

    def thread_of(self, event_id: str) -> str | None:
        return self._threads.get(event_id)

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
        return permalink(ref.channel.channel, ref.message_id, ref.channel.space)

    def resolve_channel(self, text: str, here: ChannelRef) -> ChannelRef | None:
        if text.lower() == "here":
            return here
        if text.startswith("!") and len(text) > 1 and not any(c.isspace() for c in text):
            return ChannelRef(PLATFORM, here.space, text)
        for room in self.client.rooms.values():
            if text.startswith("#") and text == room.canonical_alias:
                return ChannelRef(PLATFORM, here.space, room.room_id)
        return None

    async def resolve_alias(self, alias: str) -> str | None:
        """The room id an alias (#name:server) points to, asked of the homeserver."""
        response = await self.client.room_resolve_alias(alias)
        return response.room_id if isinstance(response, RoomResolveAliasResponse) else None

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
