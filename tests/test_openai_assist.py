"""OpenAIAssist with the real `openai` client against the loopback endpoint on 127.0.0.1."""
# ruff: noqa: F811 -- fixtures imported from tests.fakes.openai_loopback are test parameters

from __future__ import annotations

import asyncio
import itertools
import math
import re
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio
from structlog.testing import capture_logs

from adapters.openai_assist import EMBED_BATCH, OpenAIAssist
from bot.assist import AssistUnavailable, ChatTurn
from bot.assist.budget import chunk_text, estimate_tokens
from tests.fakes.openai_loopback import (
    OpenAILoopback,
    delay,
    hashed_embedding,
    malformed,
    openai_server,  # noqa: F401
    reply,
    status,
)

KEY = "sk-loopback-not-a-real-key"
TURNS = [
    ChatTurn("system", "You summarise threads."),
    ChatTurn("user", "Summarise: tea or coffee?"),
]

MakeAssist = Callable[..., OpenAIAssist]


@pytest_asyncio.fixture
async def make_assist(openai_server: OpenAILoopback) -> AsyncIterator[MakeAssist]:
    made: list[OpenAIAssist] = []

    def make(**overrides: Any) -> OpenAIAssist:
        options: dict[str, Any] = {
            "base_url": openai_server.base_url,
            "api_key": KEY,
            "model": "hearth-chat",
            "embedding_model": "hearth-embed",
            "timeout_seconds": 5,
            "max_retries": 0,
        } | overrides
        assist = OpenAIAssist(**options)
        made.append(assist)
        return assist

    yield make
    for assist in made:
        await assist.close()


async def test_completion_round_trip(
    openai_server: OpenAILoopback, make_assist: MakeAssist
) -> None:
    openai_server.script(reply("Mostly tea, one coffee holdout."))
    with capture_logs() as logs:
        completion = await make_assist().complete(TURNS, max_tokens=123, temperature=0.1)

    assert completion.text == "Mostly tea, one coffee holdout."
    assert completion.model == "hearth-chat"
    assert completion.prompt_tokens == estimate_tokens(TURNS[0].content) + estimate_tokens(
        TURNS[1].content
    )
    assert completion.completion_tokens == estimate_tokens(completion.text)

    [request] = openai_server.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.body["model"] == "hearth-chat"
    assert request.body["messages"] == [
        {"role": "system", "content": "You summarise threads."},
        {"role": "user", "content": "Summarise: tea or coffee?"},
    ]
    assert request.body["max_tokens"] == 123
    assert request.body["temperature"] == 0.1
    assert request.body.get("stream") in (None, False)

    [usage] = [entry for entry in logs if entry["event"] == "assist.usage"]
    assert usage["model"] == "hearth-chat"
    assert usage["prompt_tokens"] == completion.prompt_tokens
    assert usage["completion_tokens"] == completion.completion_tokens
    assert 0 <= usage["seconds"] < 5


async def test_rate_limit_then_success_honours_retry_after(
    openai_server: OpenAILoopback,
    make_assist: MakeAssist,
) -> None:
    openai_server.script(status(429, retry_after=0.01), reply("after the wait"))
    completion = await make_assist(max_retries=2).complete(TURNS)

    assert completion.text == "after the wait"
    first, second = openai_server.requests
    assert first.body == second.body
    # The server's 10 ms, not the client's default back-off (at least 375 ms).
    assert 0.01 <= second.at - first.at < 0.3


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (500, "the assist endpoint failed (500)"),
        (503, "the assist endpoint failed (503)"),
        (429, "the assist endpoint is rate limiting (429)"),
    ],
)
async def test_persistent_failure_is_unavailable_after_the_retries(
    openai_server: OpenAILoopback,
    make_assist: MakeAssist,
    code: int,
    reason: str,
) -> None:
    openai_server.script(*[status(code, retry_after=0.01)] * 5)
    with pytest.raises(AssistUnavailable) as caught:
        await make_assist(max_retries=2).complete(TURNS)
    assert str(caught.value) == reason
    assert len(openai_server.requests) == 3


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (401, "the assist endpoint refused the API key (401)"),
        (400, "the assist endpoint rejected the request (400)"),
    ],
)
async def test_client_errors_are_not_retried(
    openai_server: OpenAILoopback,
    make_assist: MakeAssist,
    code: int,
    reason: str,
) -> None:
    openai_server.script(status(code))
    with pytest.raises(AssistUnavailable, match=re.escape(reason)):
        await make_assist(max_retries=3).complete(TURNS)
    assert len(openai_server.requests) == 1


@pytest.mark.parametrize(
    ("behaviour", "reason"),
    [
        (malformed(), "not a completion"),
        (malformed("{}"), "not a completion"),
        (malformed('{"id": "x", "object": "chat.completion", "choices": []}'), "not a completion"),
        (
            malformed('{"choices": [{"index": 0, "message": {"role": "assistant"}}]}'),
            "not a completion",
        ),
        (reply("   "), "empty completion"),
    ],
    ids=["not-json", "empty-object", "no-choices", "no-content", "blank-text"],
)
async def test_malformed_answer_is_unavailable(
    openai_server: OpenAILoopback,
    make_assist: MakeAssist,
    behaviour: Any,
    reason: str,
) -> None:
    openai_server.script(behaviour)
    with pytest.raises(AssistUnavailable, match=reason):
        await make_assist(max_retries=2).complete(TURNS)
    assert len(openai_server.requests) == 1


async def test_timeout_is_unavailable(
    openai_server: OpenAILoopback, make_assist: MakeAssist
) -> None:
    openai_server.script(delay(3600))  # answers only if the client never gives up
    with pytest.raises(AssistUnavailable, match=r"^the assist endpoint timed out$"):
        await asyncio.wait_for(make_assist(timeout_seconds=0.2).complete(TURNS), 60)
    assert len(openai_server.requests) == 1


async def test_unreachable_endpoint_is_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assist = OpenAIAssist(f"http://127.0.0.1:{port}/v1", KEY, "hearth-chat", None, max_retries=0)
    try:
        with pytest.raises(AssistUnavailable, match="could not be reached"):
            await assist.complete(TURNS)
    finally:
        await assist.close()


async def test_embeddings_are_batched_and_in_order(
    openai_server: OpenAILoopback,
    make_assist: MakeAssist,
) -> None:
    texts = [f"note {i} about {'tea' if i % 2 else 'coffee'} brewing" for i in range(130)]
    vectors = await make_assist().embed(texts)

    assert vectors == [hashed_embedding(text) for text in texts]
    bodies = openai_server.bodies("/v1/embeddings")
    assert [len(body["input"]) for body in bodies] == [EMBED_BATCH, EMBED_BATCH, 2]
    assert [text for body in bodies for text in body["input"]] == texts
    assert {body["model"] for body in bodies} == {"hearth-embed"}
    assert {body["encoding_format"] for body in bodies} == {"float"}


async def test_loopback_embeddings_put_similar_texts_close(make_assist: MakeAssist) -> None:
    a, b, c = await make_assist().embed(
        ["pour over coffee grind size", "coffee grind size for pour over", "tax return deadline"]
    )

    def cosine(x: list[float], y: list[float]) -> float:
        return sum(p * q for p, q in zip(x, y, strict=True))

    assert len(a) == 64
    assert math.isclose(cosine(a, a), 1.0)
    assert cosine(a, b) > 0.8 > cosine(a, c)


async def test_embedding_failure_is_unavailable(
    openai_server: OpenAILoopback,
    make_assist: MakeAssist,
) -> None:
    openai_server.script(reply(), malformed('{"object": "list", "data": []}'))
    with pytest.raises(AssistUnavailable, match="not a list of embeddings"):
        await make_assist().embed([f"text {i}" for i in range(70)])
    assert len(openai_server.requests) == 2


async def test_embed_without_a_model_is_unavailable(
    openai_server: OpenAILoopback,
    make_assist: MakeAssist,
) -> None:
    with pytest.raises(AssistUnavailable, match=r"^no embedding model configured$"):
        await make_assist(embedding_model=None).embed(["anything"])
    assert await make_assist().embed([]) == []
    assert openai_server.requests == []


async def test_over_budget_input_is_a_programming_error(
    openai_server: OpenAILoopback,
    make_assist: MakeAssist,
) -> None:
    assist = make_assist(max_input_tokens=10)
    await assist.complete([ChatTurn("user", "x" * 40)])  # exactly 10 tokens: fine
    with pytest.raises(ValueError, match="chunk_text"):
        await assist.complete([ChatTurn("system", "x" * 20), ChatTurn("user", "y" * 21)])
    assert len(openai_server.requests) == 1


THREAD = "\n".join(
    f"{name}: {' '.join(['word'] * (i % 7 + 1))} about item {i}"
    for i, name in enumerate(["ana", "bo", "chen", "dee"] * 30)
)


@pytest.mark.parametrize("budget", [1, 3, 10, 25, 100, 10_000])
def test_chunk_text_keeps_every_word_within_budget(budget: int) -> None:
    text = "Intro paragraph here.\n\n" + THREAD + "\n\n" + "a" * 90 + " tail"
    chunks = chunk_text(text, budget)

    limit = budget * 4
    # Every word, in order; only a word longer than the whole budget is cut into pieces.
    expected = [w[i : i + limit] for w in text.split() for i in range(0, len(w), limit)]
    assert [w for chunk in chunks for w in chunk.split()] == expected
    assert all(0 < estimate_tokens(chunk) <= budget for chunk in chunks)
    if budget == 10_000:
        assert chunks == [text]


def test_chunk_text_splits_on_line_boundaries() -> None:
    chunks = chunk_text(THREAD, 25)

    assert len(chunks) > 1
    lines = THREAD.split("\n")
    assert [line for chunk in chunks for line in chunk.split("\n")] == lines
    # Greedy: no chunk could have taken the next chunk's first line.
    for chunk, following in itertools.pairwise(chunks):
        assert estimate_tokens(chunk + "\n" + following.split("\n")[0]) > 25


def test_chunk_text_prefers_paragraphs_and_cuts_only_huge_words() -> None:
    text = "first para line one\nline two\n\nsecond para\n\n" + "z" * 30
    assert chunk_text(text, 8) == [
        "first para line one\nline two",
        "second para",
        "z" * 30,
    ]
    assert chunk_text("z" * 30, 2) == ["z" * 8, "z" * 8, "z" * 8, "z" * 6]
    assert chunk_text("  \n\n ", 5) == []
    with pytest.raises(ValueError):
        chunk_text("text", 0)
