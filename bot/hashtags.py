"""Hashtags in chat text: `#tag` tokens become tags; trailing ones leave the text."""

from __future__ import annotations

import re

_HASHTAG = re.compile(r"(?<![\w&#])#([^\s#]+)")


def hashtags(text: str) -> list[str]:
    return [m.group(1) for m in _HASHTAG.finditer(text)]


def split_hashtags(text: str) -> tuple[str, list[str]]:
    """The text without its trailing hashtags, and every hashtag in it (inline ones stay)."""
    tags = hashtags(text)
    words = text.rstrip().split(" ")
    while words and _HASHTAG.fullmatch(words[-1].strip()):
        words.pop()
    return " ".join(words).rstrip(), tags
