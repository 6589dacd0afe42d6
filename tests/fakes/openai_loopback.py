"""A fake OpenAI endpoint on 127.0.0.1: the real `openai` client talks to it over HTTP.

It speaks `POST /v1/chat/completions` and `POST /v1/embeddings` with OpenAI's JSON shapes,
records every request (path, headers, JSON body, arrival time) and answers from a script:

    openai_server.script(status(429, retry_after=0.01), reply("a draft"))

Each request takes the next behaviour from the queue; with the queue empty it answers
normally (chat: "echo: <last user message>"; embeddings: a hashed bag-of-words vector of
dimension 64, so texts sharing words get similar vectors). Use it from a test module with
`from tests.fakes.openai_loopback import openai_server  # noqa: F401`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import math
import re
import struct
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest_asyncio
from aiohttp import web
from multidict import CIMultiDict

DIMENSIONS = 64


@dataclass(frozen=True)
class Behaviour:
    kind: str  # "reply", "status", "malformed" or "delay"
    text: str | None = None
    finish_reason: str = "stop"
    code: int = 200
    retry_after: float | None = None
    body: str | None = None
    seconds: float = 0.0
    then: Behaviour | None = None


def reply(text: str | None = None, *, finish_reason: str = "stop") -> Behaviour:
    """Answer normally; for chat, with `text` as the completion (default: an echo)."""
    return Behaviour("reply", text=text, finish_reason=finish_reason)


def status(code: int, *, retry_after: float | None = None, message: str = "") -> Behaviour:
    """An OpenAI-style error; `retry_after` (seconds) sets Retry-After and retry-after-ms."""
    return Behaviour("status", code=code, retry_after=retry_after, text=message or None)


def malformed(body: str = "<html>502 upstream gone</html>") -> Behaviour:
    """200 with `body` as it is: not JSON by default; `malformed("{}")` is JSON without choices."""
    return Behaviour("malformed", body=body)


def delay(seconds: float, then: Behaviour | None = None) -> Behaviour:
    """Wait `seconds` before answering (as `then`, default normally): for timeouts."""
    return Behaviour("delay", seconds=seconds, then=then)


@dataclass
class RecordedRequest:
    path: str
    headers: CIMultiDict[str]
    body: Any  # parsed JSON, or the raw text if it was not JSON
    at: float = field(default_factory=time.monotonic)


def hashed_embedding(text: str, dimensions: int = DIMENSIONS) -> list[float]:
    """Deterministic unit vector: each lower-cased word adds ±1 to a hashed dimension."""
    vector = [0.0] * dimensions
    for word in re.findall(r"\w+", text.lower()):
        digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
        value = int.from_bytes(digest, "big")
        vector[value % dimensions] += 1.0 if (value >> 32) & 1 else -1.0
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector] if norm else vector


def _tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


class OpenAILoopback:
    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.base_url = ""
        self._queue: deque[Behaviour] = deque()
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._counter = 0

    def script(self, *behaviours: Behaviour) -> None:
        """Queue behaviours, one per coming request (both endpoints share the queue)."""
        self._queue.extend(behaviours)

    def bodies(self, path: str = "/v1/chat/completions") -> list[Any]:
        return [r.body for r in self.requests if r.path == path]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._handle)
        app.router.add_post("/v1/embeddings", self._handle)
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}/v1"

    async def stop(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.text()
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw
        self.requests.append(RecordedRequest(request.path, CIMultiDict(request.headers), body))
        behaviour = self._queue.popleft() if self._queue else reply()
        while behaviour.kind == "delay":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), behaviour.seconds)
            behaviour = behaviour.then or reply()
        if behaviour.kind == "status":
            return self._error(behaviour)
        if behaviour.kind == "malformed":
            text = behaviour.body or ""
            content_type = "application/json" if text.lstrip()[:1] in ("{", "[") else "text/html"
            return web.Response(text=text, content_type=content_type)
        self._counter += 1
        if request.path.endswith("/embeddings"):
            return web.json_response(self._embeddings(body))
        return web.json_response(self._completion(body, behaviour))

    def _error(self, behaviour: Behaviour) -> web.Response:
        headers: dict[str, str] = {}
        if behaviour.retry_after is not None:
            headers["Retry-After"] = f"{behaviour.retry_after:g}"
            headers["retry-after-ms"] = f"{behaviour.retry_after * 1000:g}"
        kind = {429: "rate_limit_exceeded", 401: "invalid_api_key"}.get(behaviour.code, "error")
        error = {
            "message": behaviour.text or f"loopback status {behaviour.code}",
            "type": "requests" if behaviour.code == 429 else "server_error",
            "param": None,
            "code": kind,
        }
        return web.json_response({"error": error}, status=behaviour.code, headers=headers)

    def _completion(self, body: dict[str, Any], behaviour: Behaviour) -> dict[str, Any]:
        messages = body.get("messages", [])
        last_user = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        text = behaviour.text if behaviour.text is not None else f"echo: {last_user}"
        prompt_tokens = sum(_tokens(str(m.get("content", ""))) for m in messages)
        return {
            "id": f"chatcmpl-loopback-{self._counter}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "unknown"),
            "system_fingerprint": "fp_loopback",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text, "refusal": None},
                    "logprobs": None,
                    "finish_reason": behaviour.finish_reason,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": _tokens(text),
                "total_tokens": prompt_tokens + _tokens(text),
            },
        }

    def _embeddings(self, body: dict[str, Any]) -> dict[str, Any]:
        inputs = body.get("input", [])
        inputs = [inputs] if isinstance(inputs, str) else inputs
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        for index, text in enumerate(inputs):
            vector = hashed_embedding(str(text))
            embedding: Any = (
                base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
                if as_base64
                else vector
            )
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        tokens = sum(_tokens(str(text)) for text in inputs)
        return {
            "object": "list",
            "data": data,
            "model": body.get("model", "unknown"),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }


@pytest_asyncio.fixture
async def openai_server() -> AsyncIterator[OpenAILoopback]:
    server = OpenAILoopback()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
