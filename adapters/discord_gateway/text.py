"""Outgoing text on Discord: rendering, the 2000-character limit, and no pings ever.

Every message Hearth sends relays somebody's words or its own, so none may mention anyone:
`NO_MENTIONS` goes with every send and edit.
"""

from __future__ import annotations

import re

import discord

from bot.text import parse, to_discord

NO_MENTIONS = discord.AllowedMentions.none()
LIMIT = 2000  # characters in one Discord message
PERMALINK = re.compile(
    r"^https://(?:(?:ptb|canary)\.)?discord(?:app)?\.com/channels/(\d+)/(\d+)/(\d+)/?$"
)


def render(text: str) -> str:
    """Neutral text as Discord Markdown, with mass mentions defused (belt to the
    `allowed_mentions=none` braces)."""
    return to_discord(parse(text))


def chunks(text: str, limit: int = LIMIT) -> list[str]:
    """Split at line ends where possible, so a long reply arrives whole in several messages."""
    out: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        cut = cut if cut > 0 else limit
        out.append(text[:cut])
        text = text[cut:].lstrip("\n")
    return [*out, text] if text or not out else out
