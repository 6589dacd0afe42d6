"""What an insight's words may be: length limits, no NUL bytes, titles trimmed."""

from __future__ import annotations

from knowledge.errors import InvalidInput
from knowledge.failures import NUL

MAX_BODY_CHARS = 4000
MAX_TITLE_CHARS = 300


def _no_nul(text: str) -> None:
    if "\x00" in text:  # PostgreSQL text cannot hold it; refuse it on SQLite too
        raise InvalidInput(NUL)


def validate_body(body: str) -> str:
    _no_nul(body)
    body = body.strip()
    if not body:
        raise InvalidInput(
            "Nothing to capture: write some text, e.g. `/insight Pair on reviews #practice`, "
            "or reply to a message with `/insight`."
        )
    if len(body) > MAX_BODY_CHARS:
        raise InvalidInput(
            f"That insight is {len(body):,} characters; the limit is {MAX_BODY_CHARS:,}. "
            "Shorten it or split it into several insights."
        )
    return body


def validate_title(title: str | None) -> str | None:
    if title is None or not title.strip():
        return None
    _no_nul(title)
    if len(title) > MAX_TITLE_CHARS:
        raise InvalidInput(f"A title has at most {MAX_TITLE_CHARS} characters.")
    return title.strip()
