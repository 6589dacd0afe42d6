"""Token budgets: estimated (4 characters a token) and kept by splitting long text."""

from __future__ import annotations

import math
import re

CHARS_PER_TOKEN = 4


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def chunk_text(text: str, max_tokens: int) -> list[str]:
    """Split `text` into pieces of at most `max_tokens` (estimated), at paragraph breaks,
    then line breaks, then spaces; a single word longer than the budget is cut."""
    if max_tokens < 1:
        raise ValueError("max_tokens must be at least 1")
    text = text.strip()
    return _split(text, max_tokens * CHARS_PER_TOKEN, 0) if text else []


def _pieces(text: str, level: int) -> list[str]:
    if level == 0:
        return [p.strip() for p in re.split(r"\n[ \t]*\n", text)]
    if level == 1:
        return [line.rstrip() for line in text.split("\n")]
    return text.split()


_JOINERS = ("\n\n", "\n", " ")


def _split(text: str, limit: int, level: int) -> list[str]:
    if len(text) <= limit:
        return [text]
    if level == len(_JOINERS):
        return [text[i : i + limit] for i in range(0, len(text), limit)]
    joiner, chunks, current = _JOINERS[level], [], ""
    for piece in _pieces(text, level):
        if not piece.strip():
            continue
        if len(piece) > limit:
            if current:
                chunks.append(current)
            *whole, current = _split(piece, limit, level + 1)
            chunks.extend(whole)
        elif current and len(current) + len(joiner) + len(piece) <= limit:
            current = f"{current}{joiner}{piece}"
        else:
            if current:
                chunks.append(current)
            current = piece
    if current:
        chunks.append(current)
    return chunks
