"""Slack text both ways: neutral Markdown → mrkdwn + Block Kit, and Slack's markup → plain.

Why a small local renderer: `bot.text` (the shared neutral-text model) has no `to_slack`
yet. What matters for safety is simple and done here: every `&`, `<`, `>` from content is
escaped, so no user text can become `<!channel>`, `<@U…>` or a link; and a literal
`@channel`/`@here`/`@everyone` gets a zero-width space so no client highlights it.
"""

from __future__ import annotations

import re
from typing import Any

ZWSP = "\u200b"
SECTION_LIMIT = 3000  # Block Kit: a section's text
MAX_BLOCKS = 50
TEXT_LIMIT = 39000  # chat.postMessage truncates beyond 40k characters

_BOLD = re.compile(r"\*\*(.+?)\*\*", re.DOTALL)
_LINK = re.compile(r"\[([^\]\n]{1,200})\]\((https?://[^\s)]+)\)")
_MASS = re.compile(r"([@＠])(?=(?:channel|here|everyone)\b)", re.IGNORECASE)
_REF = re.compile(r"<([^<>]{1,1000})>")


def escape(text: str) -> str:
    """The three characters Slack reads as markup, as entities (Slack's own rule)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def to_mrkdwn(text: str) -> str:
    """Hearth's neutral text (Markdown subset) as Slack mrkdwn, with content made inert."""
    links: list[str] = []

    def hold_link(match: re.Match[str]) -> str:
        label = escape(match.group(1)).replace("|", "¦")
        links.append(f"<{escape(match.group(2))}|{label}>")
        return f"\x00{len(links) - 1}\x00"

    held = _LINK.sub(hold_link, text)
    rendered = _MASS.sub(lambda m: m.group(1) + ZWSP, escape(held))
    rendered = _BOLD.sub(lambda m: f"*{m.group(1)}*", rendered)
    return re.sub(r"\x00(\d+)\x00", lambda m: links[int(m.group(1))], rendered)


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


def message_payload(text: str) -> dict[str, Any]:
    """`text` (the fallback notifications and old clients show) and section `blocks`."""
    rendered = to_mrkdwn(text)
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
