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

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar
from urllib.parse import unquote
from uuid import uuid4

import stamina
from nio import (  # type: ignore[import-untyped]
    AsyncClient,
    ErrorResponse,
    OlmUnverifiedDeviceError,
    RoomGetEventResponse,
    RoomResolveAliasResponse,
)
from nio.api import MessageDirection, RelationshipType  # type: ignore[import-untyped]

from adapters.matrix.content import (
    EVENT_ID,
    HTML,
    KEY_FIELD,
    PERMALINK,
    PLATFORM,
    RELAY_FIELD,
    attachments_of,
    markup_of,
    permalink,
    plain_text,
    relay_document,
    thread_root,
    transaction_id,
)
from adapters.matrix.e2e import Encryption
from adapters.matrix.errors import check
from adapters.matrix.media import MediaLinks
from bot.events import ChannelRef, ChatMessage, MessageRef, UserRef
from bot.port import (
    Capabilities,
    OutboundMessage,
    TargetGone,
    Transient,
)
from bot.text import matrix_mentions, to_matrix

SERVER_RETRIES = 3
THREAD_MEMORY = 20_000  # events whose thread is remembered for their redaction
LOOKBACK = 200  # the bot's own recent messages searched for a maybe-posted key
T = TypeVar("T")


class _ServerError(Exception):
    """A 5xx answer, raised so the retry loop tries again."""

    def __init__(self, response: ErrorResponse) -> None:
        super().__init__(str(response))
        self.response = response


class MatrixPort:
    """OutboundPort over a logged-in nio client (the adapter adds the lifecycle)."""

    platform = PLATFORM
    capabilities = Capabilities(threads=True, edits=True, ephemeral=False, dm_replies=True)

    def __init__(
        self, client: AsyncClient, server_name: str, encryption: Encryption | None = None
    ) -> None:
        self.client = client
        self.server_name = server_name
        self.encryption = encryption
        self.media = MediaLinks(client)  # the adapter mounts its proxy when served
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
        anyone = True  # no encryption, or trust on first use: every member device
        if self.encryption is not None and self.encryption.on:
            self.encryption.apply_trust()
            anyone = self.encryption.config.trust == "tofu"

        send = partial(
            self.client.room_send,
            room_id,
            event_type,
            content,
            tx_id=txn,
            ignore_unverified_devices=anyone,
        )

        try:
            response = await self._call(send)
        except OlmUnverifiedDeviceError:  # a device nio met while sending: decide, again
            assert self.encryption is not None
            self.encryption.apply_trust()
            response = await self._call(send)
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
            attachments=attachments_of(self.media.url, content),
            avatar_url=self.avatar_url(room_id, sender),
            from_bot=sender == self.client.user_id or RELAY_FIELD in original,
        )

    def avatar_url(self, room_id: str, user_id: str) -> str | None:
        """The member's avatar as an HTTP URL, from the room state nio already holds."""
        room = self.client.rooms.get(room_id)
        mxc = room.avatar_url(user_id) if room is not None else None
        return self.media.url(mxc) if isinstance(mxc, str) else None

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
        source = self.readable(room_id, response.event).source
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
            event = self.readable(room_id, event)
            if event.source.get("type") == "m.room.message":
                replies.append(self.chat_message(room_id, event.source))
        return messages + sorted(replies, key=lambda m: m.posted_at or datetime.min)

    def readable(self, room_id: str, event: Any) -> Any:
        """A fetched event, decrypted when encryption is on and its key is here."""
        return self.encryption.readable(room_id, event) if self.encryption else event

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
        match = PERMALINK.match(text)
        if match:
            room = unquote(match.group(1))
            room_ref = self.resolve_channel(room, channel) or ChannelRef(
                PLATFORM, channel.space, room
            )
            return MessageRef(room_ref, unquote(match.group(2)))
        if EVENT_ID.match(text):
            return MessageRef(channel, text)
        return None
