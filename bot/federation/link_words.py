"""Words and ids from a linked deployment's activities, read defensively: a Note's or an
Article's Markdown source when it sent one, else its HTML as plain text (nh3 strips
every tag), each cut to a bound."""

from __future__ import annotations

import html
from typing import Any

import nh3

MAX_TEXT = 20_000


def text_of(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) else ""


def note_words(note: dict[str, Any]) -> tuple[str, str | None]:
    """(text, neutral markup) of a Note: its Markdown source, else its HTML as text."""
    source = note.get("source")
    if isinstance(source, dict) and source.get("mediaType") == "text/markdown":
        content = source.get("content")
        if isinstance(content, str):
            return content[:MAX_TEXT], content[:MAX_TEXT]
    content = note.get("content")
    if not isinstance(content, str):
        return "", None
    plain = html.unescape(nh3.clean(content.replace("</p>", "</p>\n"), tags=set()))
    return plain.strip()[:MAX_TEXT], None
