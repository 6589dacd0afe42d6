"""Matrix event content, read and written: relations, text, media links, transaction ids.

Pure functions over event JSON, shared by the port (what it sends) and the adapter (what
it hears), so neither reaches into the other for them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from bot.events import Attachment
from bot.port import OutboundMessage
from bot.text import Document, from_matrix_html, to_words
from bot.text.relayed import with_author_prefix, with_source_link

PLATFORM = "matrix"
HTML = "org.matrix.custom.html"
RELAY_FIELD = "org.hearth.relay"  # on relayed copies: author, community, key
KEY_FIELD = "org.hearth.key"  # on every keyed send: its idempotency key
FILE_TYPES = frozenset({"m.file", "m.image", "m.video", "m.audio"})
PERMALINK = re.compile(r"^https://matrix\.to/#/([!#][^/?\s]+)/(\$[^/?\s]+)")
EVENT_ID = re.compile(r"^\$[A-Za-z0-9_\-+/=.:]+$")


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


MediaLink = Callable[[str, str | None], str | None]  # (mxc URI, file name) → a link


def attachments_of(link: MediaLink, content: dict[str, Any]) -> tuple[Attachment, ...]:
    """The file an `m.file`/`m.image`/`m.video`/`m.audio` carries (encrypted ones: none).

    Its name is `filename` when the event has one (then `body` is a caption), else `body`.
    """
    if content.get("msgtype") not in FILE_TYPES or not isinstance(content.get("url"), str):
        return ()
    info = content.get("info")
    info = info if isinstance(info, dict) else {}
    name = str(content.get("filename") or content.get("body") or "file")
    url = link(content["url"], name)
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
