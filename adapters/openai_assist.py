"""The assist port over any OpenAI-compatible endpoint, with the official `openai` client.

Retries (429 with Retry-After, 5xx, timeouts) are the client's own; whatever still fails,
and any answer that is not a usable completion, becomes `AssistUnavailable` with a short
reason a person can read. Token counts are estimated (4 characters a token): callers
split long input with `chunk_text` and summarise it in parts.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import openai
import structlog
from openai.types.chat import ChatCompletionMessageParam

from bot.assist import AssistUnavailable, ChatTurn, Completion
from bot.assist.budget import estimate_tokens

log = structlog.get_logger(__name__)

EMBED_BATCH = 64
_NOT_A_COMPLETION = "the assist endpoint answered something that is not a completion"
_NOT_EMBEDDINGS = "the assist endpoint answered something that is not a list of embeddings"


def _reason(exc: openai.OpenAIError) -> str:
    if isinstance(exc, openai.APITimeoutError):
        return "the assist endpoint timed out"
    if isinstance(exc, openai.APIConnectionError):
        return "the assist endpoint could not be reached"
    if isinstance(exc, openai.RateLimitError):
        return "the assist endpoint is rate limiting (429)"
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return f"the assist endpoint refused the API key ({exc.status_code})"
    if isinstance(exc, openai.APIStatusError):
        if exc.status_code >= 500:
            return f"the assist endpoint failed ({exc.status_code})"
        return f"the assist endpoint rejected the request ({exc.status_code})"
    if isinstance(exc, openai.APIResponseValidationError):
        return _NOT_A_COMPLETION
    return f"the assist client failed ({type(exc).__name__})"


def _message(turn: ChatTurn) -> ChatCompletionMessageParam:
    if turn.role == "system":
        return {"role": "system", "content": turn.content}
    if turn.role == "assistant":
        return {"role": "assistant", "content": turn.content}
    return {"role": "user", "content": turn.content}


class OpenAIAssist:
    """`LanguageModel` over `/v1/chat/completions` and `/v1/embeddings`."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        model: str,
        embedding_model: str | None,
        timeout_seconds: float = 30,
        max_retries: int = 3,
        max_input_tokens: int = 6000,
    ) -> None:
        self.model = model
        self.embedding_model = embedding_model
        self.max_input_tokens = max_input_tokens
        # Local servers often need no key, but the client insists on one.
        self._client = openai.AsyncOpenAI(
            base_url=base_url,
            api_key=api_key or "none",
            timeout=timeout_seconds,
            max_retries=max_retries,
        )

    async def complete(
        self, turns: Sequence[ChatTurn], *, max_tokens: int = 400, temperature: float = 0.2
    ) -> Completion:
        estimate = sum(estimate_tokens(turn.content) for turn in turns)
        if estimate > self.max_input_tokens:
            raise ValueError(
                f"{estimate} estimated input tokens exceed the budget of "
                f"{self.max_input_tokens}; split the input with chunk_text"
            )
        messages = [_message(turn) for turn in turns]
        started = time.monotonic()
        try:
            response: Any = await self._client.chat.completions.create(
                model=self.model,
                messages=messages,
                max_tokens=max_tokens,
                temperature=temperature,
            )
        except openai.OpenAIError as exc:
            raise self._unavailable(exc) from exc
        choices = getattr(response, "choices", None)
        message = getattr(choices[0], "message", None) if choices else None
        text = getattr(message, "content", None)
        if not isinstance(text, str):
            raise self._unavailable(_NOT_A_COMPLETION)
        if not text.strip():
            raise self._unavailable("the assist endpoint answered with an empty completion")
        usage = getattr(response, "usage", None)
        prompt_tokens = getattr(usage, "prompt_tokens", 0) or 0
        completion_tokens = getattr(usage, "completion_tokens", 0) or 0
        model = getattr(response, "model", None) or self.model
        log.info(
            "assist.usage",
            model=model,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            seconds=round(time.monotonic() - started, 3),
        )
        return Completion(text.strip(), model, prompt_tokens, completion_tokens)

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if self.embedding_model is None:
            raise AssistUnavailable("no embedding model configured")
        vectors: list[list[float]] = []
        for start in range(0, len(texts), EMBED_BATCH):
            batch = list(texts[start : start + EMBED_BATCH])
            try:
                response: Any = await self._client.embeddings.create(
                    model=self.embedding_model, input=batch, encoding_format="float"
                )
            except openai.OpenAIError as exc:
                raise self._unavailable(exc) from exc
            data = getattr(response, "data", None)
            if not isinstance(data, list) or len(data) != len(batch):
                raise self._unavailable(_NOT_EMBEDDINGS)
            by_index = {
                getattr(item, "index", None): getattr(item, "embedding", None) for item in data
            }
            for index in range(len(batch)):
                vector = by_index.get(index)
                if (
                    not isinstance(vector, list)
                    or not vector
                    or not all(isinstance(value, int | float) for value in vector)
                ):
                    raise self._unavailable(_NOT_EMBEDDINGS)
                vectors.append([float(value) for value in vector])
        return vectors

    async def close(self) -> None:
        await self._client.close()

    def _unavailable(self, cause: openai.OpenAIError | str) -> AssistUnavailable:
        reason = cause if isinstance(cause, str) else _reason(cause)
        log.warning("assist.unavailable", model=self.model, reason=reason)
        return AssistUnavailable(reason)
