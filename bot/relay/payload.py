"""What the outbox stores for a relayed message, and the outbound message it becomes.

The payload is plain JSON (it outlives the process): the author, the community, the
original's text and platform markup, its attachments and its permalink. The document is
rebuilt from it at delivery, so the target renders it natively and for relay.
"""

from __future__ import annotations

import hashlib
from typing import Any

from bot.events import ChatMessage
from bot.port import Attribution, OutboundMessage
from bot.text.relayed import document_of, with_attachments


def digest(text: str, markup: str | None) -> str:
    """Identifies a version of a message's words: an edit with new words changes it."""
    return hashlib.sha256(f"{text}\0{markup or ''}".encode()).hexdigest()


def payload_of(message: ChatMessage, community_name: str) -> dict[str, Any]:
    return {
        "author": message.author.display_name,
        "avatar": message.avatar_url,
        "community": community_name,
        "link": message.permalink,
        "platform": message.ref.channel.platform,
        "text": message.text,
        "markup": message.markup,
        "attachments": [[a.name, a.url, a.size] for a in message.attachments],
    }


def edit_payload(base: dict[str, Any], text: str, markup: str | None) -> dict[str, Any]:
    return {**base, "text": text, "markup": markup}


def outbound(payload: dict[str, Any], key: str, maybe_posted: bool) -> OutboundMessage:
    document = with_attachments(
        document_of(str(payload["platform"]), str(payload["text"]), payload.get("markup")),
        [(str(n), str(u), s if isinstance(s, int) else None) for n, u, s in payload["attachments"]],
    )
    credit = Attribution(
        author=str(payload["author"]),
        community=str(payload["community"]),
        avatar_url=payload.get("avatar"),
        link=payload.get("link"),
    )
    return OutboundMessage(
        str(payload["text"]),
        attribution=credit,
        document=document,
        idempotency_key=key,
        maybe_posted=maybe_posted,
    )
