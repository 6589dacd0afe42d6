"""A LanguageModel that counts what it costs: calls by outcome and tokens, for /metrics."""

from __future__ import annotations

from collections.abc import Sequence

from bot.assist import AssistUnavailable, ChatTurn, Completion, LanguageModel
from bot.ops.metrics import Metrics


class MeteredModel:
    def __init__(self, model: LanguageModel, metrics: Metrics) -> None:
        self._model = model
        self._metrics = metrics

    async def complete(
        self, turns: Sequence[ChatTurn], *, max_tokens: int = 400, temperature: float = 0.2
    ) -> Completion:
        calls = self._metrics.assist_calls
        try:
            completion = await self._model.complete(
                turns, max_tokens=max_tokens, temperature=temperature
            )
        except AssistUnavailable:
            calls.labels("complete", "unavailable").inc()
            raise
        calls.labels("complete", "ok").inc()
        self._metrics.assist_tokens.labels("prompt").inc(completion.prompt_tokens)
        self._metrics.assist_tokens.labels("completion").inc(completion.completion_tokens)
        return completion

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        try:
            vectors = await self._model.embed(texts)
        except AssistUnavailable:
            self._metrics.assist_calls.labels("embed", "unavailable").inc()
            raise
        self._metrics.assist_calls.labels("embed", "ok").inc()
        return vectors

    async def close(self) -> None:
        await self._model.close()
