"""Outgoing text on Discord: rendering, the 2000-character limit, and no pings ever.

Every message Hearth sends relays somebody's words or its own, so none may mention anyone:
`NO_MENTIONS` goes with every send and edit.
"""

from __future__ import annotations

import hashlib
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


# Relayed copies --------------------------------------------------------------------------

RELAY_WEBHOOK = "Hearth relay"  # the one webhook per channel Hearth posts relayed copies with
USERNAME_LIMIT = 80  # characters in a webhook message's username

# Discord refuses webhook usernames containing these words (any case), and usernames take
# no `@ # :` or code fences; look-alike characters keep the name readable and accepted.
_FORBIDDEN_WORDS = re.compile(r"discord|clyde", re.IGNORECASE)
_LOOKALIKE = {"o": "\u043e", "O": "\u041e", "y": "\u0443", "Y": "\u0423"}  # Cyrillic о О у У
_NAME_CHARS = str.maketrans({"@": "\uff20", "#": "\uff03", ":": "\uff1a", "`": "\u02cb"})


def _disguise(word: re.Match[str]) -> str:
    text = word.group()
    letter = 4 if text.lower() == "discord" else 2  # the `o` of discord, the `y` of clyde
    return text[:letter] + _LOOKALIKE[text[letter]] + text[letter + 1 :]


def webhook_username(author: str, community: str) -> str:
    """`Author (Community)` as Discord accepts it: at most 80 characters (the author's name
    is shortened first, so the community stays visible), none of its forbidden words."""
    author = " ".join(author.split()) or "Someone"
    community = " ".join(community.split())
    suffix = f" ({community})" if community else ""
    if len(suffix) > USERNAME_LIMIT // 2:
        suffix = suffix[: USERNAME_LIMIT // 2 - 2] + "…)"
    room = USERNAME_LIMIT - len(suffix)
    if len(author) > room:
        author = author[: room - 1] + "…"
    name = (author + suffix).translate(_NAME_CHARS)
    return _FORBIDDEN_WORDS.sub(_disguise, name)


# Idempotency marks ---------------------------------------------------------------------
#
# A send that may already have reached Discord (OutboundMessage.maybe_posted) is looked
# for among the channel's recent messages. Discord returns a message's `nonce` only to the
# sender's create call and gateway event (never in GET messages, never for webhooks), so
# the key travels *in the content*: a hash of it written in zero-width characters after
# an INVISIBLE SEPARATOR (U+2063) at the end of the first part. Readers see nothing,
# Discord keeps the characters, and the adapter finds the mark again with a substring
# test. (Not a URL fragment on the source link: a relay may have no link, and matrix.to
# permalinks already use the fragment.) Bot posts also send the hash as `nonce` with
# `enforce_nonce`, so Discord itself answers a resend within minutes with the first message.

_MARK = "\u2063"
_DIGITS = "\u200b\u200c\u200d\u2060"  # zero width space, non-joiner, joiner, word joiner
INVISIBLE = re.compile(f"{_MARK}[{_DIGITS}]*")


def key_mark(key: str) -> str:
    """The invisible mark of an idempotency key (64 bits of its hash, 2 bits a character)."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    pairs = (_DIGITS[(byte >> shift) & 3] for byte in digest for shift in (6, 4, 2, 0))
    return _MARK + "".join(pairs)


def key_nonce(key: str) -> str:
    """The key as a Discord nonce (at most 25 characters)."""
    return hashlib.blake2b(key.encode(), digest_size=12).hexdigest()


def visible(content: str) -> str:
    """What a reader sees: the content without idempotency marks."""
    return INVISIBLE.sub("", content)
