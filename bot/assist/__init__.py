"""Assist: drafts and answers from a language model, or from offline heuristics.

The core sees only this port; `adapters/openai_assist.py` implements it with the official
`openai` client against any OpenAI-compatible endpoint. Model output is only ever text
shown to a person to accept: it never runs a command or triggers a relay.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol


@dataclass(frozen=True)
class ChatTurn:
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True)
class Completion:
    text: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


class AssistUnavailable(Exception):
    """The endpoint could not answer (down, timed out, rate limited beyond retries,
    malformed answer). Callers fall back to the offline path and say so."""


class LanguageModel(Protocol):
    async def complete(
        self, turns: Sequence[ChatTurn], *, max_tokens: int = 400, temperature: float = 0.2
    ) -> Completion: ...

    async def embed(self, texts: Sequence[str]) -> list[list[float]]: ...

    async def close(self) -> None: ...
