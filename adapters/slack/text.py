"""Slack text both ways: neutral Markdown → mrkdwn + Block Kit, and Slack's markup → plain.

Rendering is `bot.text`'s (one renderer for every platform); this module adds Slack's
message limits, Block Kit sections and the way back from Slack markup to plain text.
"""

from __future__ import annotations

import re
from typing import Any

from bot.port import OutboundMessage
from bot.text import parse, to_slack
from bot.text.relayed import with_source_link

SECTION_LIMIT = 3000  # Block Kit: a section's text
MAX_BLOCKS = 50
TEXT_LIMIT = 39000  # chat.postMessage truncates beyond 40k characters

_REF = re.compile(r"<([^<>]{1,1000})>")


def unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def to_mrkdwn(text: str) -> str:
    """Hearth's neutral text as Slack mrkdwn, through the shared renderer (content made
    inert: `& < >` escaped, mass mentions defused)."""
    return to_slack(parse(text))


def _chunks(text: str, size: int) -> list[str]:
    """Pieces of at most `size` characters, cut at line ends where possible."""
    pieces: list[str] = []
    while len(text) > size:
        cut = text.rfind("\n", 0, size)
        cut = cut if cut > 0 else size
        pieces.append(text[:cut])
        text = text[cut:].lstrip("\n")
    if text:
        pieces.append(text)
    return pieces


def outbound_mrkdwn(message: OutboundMessage) -> str:
    """What a port message says on Slack.

    A relayed copy (`attribution` set) renders the original's document with a link back
    to it and `for_relay=True`: every mention a plain name, `<!channel>`/`<!here>` defused,
    so a copy never pings anyone here. Other messages render their `document` when they
    carry one, else their neutral text.
    """
    credit = message.attribution
    if credit is None:
        return to_slack(message.relay_document())
    doc = with_source_link(message.relay_document(), credit.link, credit.community)
    return to_slack(doc, for_relay=True)


def message_payload(text: str) -> dict[str, Any]:
    """`text` (the fallback notifications and old clients show) and section `blocks`."""
    return mrkdwn_payload(to_mrkdwn(text))


def mrkdwn_payload(rendered: str) -> dict[str, Any]:
    """`message_payload` for text already rendered as mrkdwn."""
    fallback = rendered if len(rendered) <= TEXT_LIMIT else rendered[: TEXT_LIMIT - 1] + "…"
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": piece}}
        for piece in _chunks(fallback, SECTION_LIMIT)[:MAX_BLOCKS]
    ]
    return {"text": fallback or " ", "blocks": blocks or None}


def to_plain(text: str, *, keep_channels: bool = False) -> str:
    """Slack's markup as a person reads it: `<@U1|ann>` → `@ann`, `<url|label>` → `label (url)`.

    Command text keeps `<#C…|name>` when `keep_channels`, so `resolve_channel` still sees
    the channel id Slack resolved for us (commands are registered with `should_escape`).
    """

    def plain(match: re.Match[str]) -> str:
        inner = match.group(1)
        target, _, label = inner.partition("|")
        if target.startswith("#"):
            return match.group(0) if keep_channels else f"#{label or target[1:]}"
        if target.startswith("@"):
            return f"@{label or target[1:]}"
        if target.startswith("!subteam^"):
            return label or "@group"
        if target.startswith("!"):
            return f"@{label or target[1:].split('^')[0]}"
        return f"{label} ({target})" if label and label != target else target

    return unescape(_REF.sub(plain, text))
