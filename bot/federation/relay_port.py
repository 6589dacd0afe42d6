"""The relay port of links across deployments: a relayed message becomes a signed
`Create(Note)` to the linked community's inbox, an edit `Update`, a deletion `Delete`.

It is an `OutboundPort` like an adapter's, so relays to another deployment go through the
relay outbox itself (lanes per thread, retries with backoff, parking, `/relay status`);
a server that is down raises `HostDown`, retried for `[relay] remote_retry_hours`.
Ids are derived from the outbox key, so a send repeated after a crash carries the same
activity id and the other side's inbox takes it once. Nothing goes out before the other
side accepted this side's Follow (Transient until then: the lane waits, in order).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC
from typing import Any

from bot.events import ChannelRef, ChatMessage, MessageRef
from bot.federation import documents
from bot.federation.keys import Keys
from bot.federation.remote import Remote, RemoteFailed, RemoteRefused
from bot.federation.schemes import origin_of
from bot.federation.signatures import sign
from bot.port import (
    Capabilities,
    Forbidden,
    HostDown,
    OutboundMessage,
    RateLimited,
    TargetGone,
    Transient,
)
from bot.text.platforms import to_discord, to_matrix
from knowledge.clock import Clock
from knowledge.federation_links import PLATFORM, FederatedLinks, Peer
from knowledge.federation_queue import digest


class FederationPort:
    platform = PLATFORM
    capabilities = Capabilities(threads=True, edits=True)

    def __init__(
        self,
        store: FederatedLinks,
        keys: Keys,
        remote: Remote,
        urls: Callable[[str], documents.Urls],
        clock: Clock,
    ) -> None:
        self._store = store
        self._keys = keys
        self._remote = remote
        self._urls = urls
        self._clock = clock

    async def post(
        self,
        channel: ChannelRef,
        message: OutboundMessage,
        *,
        thread: MessageRef | None = None,
        reply_to: MessageRef | None = None,
    ) -> MessageRef:
        peer = await self._peer(channel)
        urls = self._urls(channel.space)
        key = message.idempotency_key or f"{message.text}|{self._clock.now().isoformat()}"
        note_id = f"{urls.actor}/n/{digest(key)[:32]}"
        above = thread or reply_to
        anchor = above.message_id if above is not None else None
        note = self._note(urls, peer, note_id, message, anchor)
        await self._send(peer, urls, _activity("Create", f"{note_id}#create", urls, peer, note))
        return MessageRef(channel, note_id, thread_id=anchor)

    async def edit(self, ref: MessageRef, message: OutboundMessage) -> None:
        peer = await self._peer(ref.channel)
        urls = self._urls(ref.channel.space)
        note = self._note(urls, peer, ref.message_id, message, ref.thread_id)
        version = digest(message.idempotency_key or message.text)[:16]
        update = _activity("Update", f"{ref.message_id}#update-{version}", urls, peer, note)
        await self._send(peer, urls, update)

    async def delete(self, ref: MessageRef) -> None:
        peer = await self._peer(ref.channel)
        urls = self._urls(ref.channel.space)
        tombstone = {"id": ref.message_id, "type": "Tombstone"}
        await self._send(
            peer, urls, _activity("Delete", f"{ref.message_id}#delete", urls, peer, tombstone)
        )

    def _note(
        self,
        urls: documents.Urls,
        peer: Peer,
        note_id: str,
        message: OutboundMessage,
        anchor: str | None,
    ) -> dict[str, Any]:
        doc = message.relay_document()
        credit = message.attribution
        note: dict[str, Any] = {
            "id": note_id,
            "type": "Note",
            "attributedTo": urls.actor,
            "content": to_matrix(doc, for_relay=True)[1],  # escaped, links vetted, defused
            "mediaType": "text/html",
            "source": {"content": to_discord(doc, for_relay=True), "mediaType": "text/markdown"},
            "context": anchor or note_id,
            "to": [peer.remote_actor],
            "published": self._clock.now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "hearthAuthor": credit.author if credit else "Hearth",
        }
        if anchor is not None:
            note["inReplyTo"] = anchor
        if credit is not None and credit.link:
            note["url"] = credit.link
        return note

    async def _peer(self, channel: ChannelRef) -> Peer:
        peer = await self._store.peer(channel.space, channel.channel)
        if peer is None:
            raise Forbidden("the link with the other deployment is not active")
        if not peer.they_accepted:
            raise Transient("the other deployment has not accepted the link yet")
        return peer

    async def _send(self, peer: Peer, urls: documents.Urls, activity: dict[str, Any]) -> None:
        body = json.dumps(activity, separators=(",", ":")).encode("utf-8")
        try:
            private = await self._keys.private_key(peer.local_community_id)
            headers = sign(private, urls.key_id, "POST", peer.inbox, self._clock.now(), body)
            await self._remote.post(peer.inbox, body, headers)
        except RemoteRefused as exc:
            raise Forbidden(str(exc)) from None
        except RemoteFailed as exc:
            status = exc.status
            if status == 429:
                raise RateLimited(
                    exc.retry_after if exc.retry_after is not None else 60.0
                ) from None
            if status == 410:
                raise TargetGone(str(exc)) from None
            if status is not None and 400 <= status < 500 and status not in (401, 408):
                raise Forbidden(str(exc)) from None
            # 5xx, network; 401: a key cached there. Retried for hours, not a count.
            raise HostDown(origin_of(peer.inbox), str(exc)) from None

    # what a chat port also answers; nothing here is read back from a remote

    async def react(self, ref: MessageRef, emoji: str) -> None:
        return None

    async def fetch_message(self, ref: MessageRef) -> ChatMessage:
        raise TargetGone("messages of another deployment are not read back")

    async def fetch_thread(self, ref: MessageRef) -> list[ChatMessage]:
        raise TargetGone("threads of another deployment are not read back")

    def permalink(self, ref: MessageRef) -> str:
        return ref.message_id

    def resolve_channel(self, text: str, here: ChannelRef) -> ChannelRef | None:
        return None

    def resolve_reference(self, text: str, channel: ChannelRef) -> MessageRef | None:
        return None


def _activity(
    kind: str, activity_id: str, urls: documents.Urls, peer: Peer, obj: dict[str, Any]
) -> dict[str, Any]:
    return {
        "@context": documents.AS,
        "id": activity_id,
        "type": kind,
        "actor": urls.actor,
        "to": [peer.remote_actor],
        "object": obj,
    }
