"""A loopback Discord on 127.0.0.1: enough gateway and REST for the real discord.py client.

The gateway speaks HELLO, IDENTIFY → READY + GUILD_CREATE, heartbeat/ACK, RESUME (replaying
what a dropped connection missed), zlib-stream, and shards. REST answers the routes the
adapter calls, records every call, and can answer 429 with `retry_after` the way Discord
does (a `Via` header and a JSON body; see /work/shared/notes/discord-loopback.md).
Tests synchronise on recorded calls (`wait_call`), never on sleeps.

A second guild (`extra_guilds`), members looked up by REST (`guild_members`), and
interactions from a DM (no guild, a `user` instead of a `member`) and from a select menu.

Channel webhooks (list, create, execute with `wait`/`thread_id`, edit and delete a webhook
message) behave as Discord's do: a webhook message's author is the webhook (`bot: true`,
the `username` it was sent with), it carries `webhook_id`, and it is echoed on the gateway
as MESSAGE_CREATE. Channels in `webhooks_forbidden` answer 403 (no Manage Webhooks).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import discord
import pytest
import yarl
from aiohttp import web

from tests.fakes.discord_loopback.gateway import Gateway
from tests.fakes.discord_loopback.payloads import Payloads
from tests.fakes.discord_loopback.people import People
from tests.fakes.discord_loopback.rest import Rest
from tests.fakes.discord_loopback.wire import (
    ALICE,
    APP_ID,
    BOB,
    BOT,
    CHANNEL,
    CURATOR_ROLE,
    DM_CHANNEL,
    GUILD,
    MANAGE_GUILD,
    OTHER_CHANNEL,
    SECOND_CHANNEL,
    SECOND_GUILD,
    STEWARD_ROLE,
    THREAD,
    TOKEN,
    WAIT_SECONDS,
    Call,
    _Session,
)

__all__ = [
    "ALICE",
    "APP_ID",
    "BOB",
    "BOT",
    "CHANNEL",
    "CURATOR_ROLE",
    "DM_CHANNEL",
    "GUILD",
    "MANAGE_GUILD",
    "OTHER_CHANNEL",
    "SECOND_CHANNEL",
    "SECOND_GUILD",
    "STEWARD_ROLE",
    "THREAD",
    "TOKEN",
    "Call",
    "DiscordLoopback",
    "serving",
]


class DiscordLoopback(Gateway, Payloads, People, Rest):
    def __init__(self, shards: int = 1) -> None:
        self.shards = shards
        self.calls: list[Call] = []
        self.gateway_log: list[dict[str, Any]] = []  # every op a client sent us
        self.messages: dict[int, dict[str, Any]] = {}
        self.commands: dict[str, list[dict[str, Any]]] = {}
        self.webhooks: dict[int, dict[str, Any]] = {}  # by id
        self.webhooks_forbidden: set[int] = set()  # channels where the bot lacks the right
        self.channels_gone: set[int] = set()  # channels deleted (their webhook routes 404)
        self._echo: list[dict[str, Any]] = []  # messages to send as MESSAGE_CREATE
        self.sessions: dict[int, _Session] = {}  # by shard id
        self._by_id: dict[str, _Session] = {}
        self._limits: list[tuple[str, re.Pattern[str], float, bool]] = []
        self._ids = itertools.count(1_200_000_000_000_000_000)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.extra_guilds: list[int] = []  # guilds besides GUILD the bot is in
        self.guild_members: dict[int, set[str]] = {}  # guild → user ids (GET …/members/…)

    # server ------------------------------------------------------------------------

    @property
    def rest_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/", self._gateway)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[attr-defined]
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def stop(self) -> None:
        for session in self.sessions.values():
            if session.connection is not None:
                await session.connection.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def next_id(self) -> int:
        return next(self._ids)

    async def _changed_now(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, check: Callable[[], Any]) -> Any:
        """Until `check()` is truthy (re-checked whenever a call or gateway op arrives)."""

        async def wait() -> Any:
            async with self._changed:
                while not (result := check()):
                    await self._changed.wait()
                return result

        return await asyncio.wait_for(wait(), WAIT_SECONDS)

    def find(self, method: str, pattern: str, status: int | None = 200) -> list[Call]:
        """Calls by method and path; `status` 200 means any success, None any answer."""
        regex = re.compile(pattern)

        def wanted(code: int) -> bool:
            return status is None or (200 <= code < 300 if status == 200 else code == status)

        return [
            c
            for c in self.calls
            if c.method == method and regex.search(c.path) and wanted(c.status)
        ]

    async def wait_call(self, method: str, pattern: str, count: int = 1) -> list[Call]:
        found: list[Call] = await self.wait_for(
            lambda: (calls := self.find(method, pattern)) and len(calls) >= count and calls
        )
        return found


@contextlib.asynccontextmanager
async def serving(
    monkeypatch: pytest.MonkeyPatch, shards: int = 1
) -> AsyncIterator[DiscordLoopback]:
    """A running loopback Discord, with discord.py pointed at it until the block ends."""
    server = DiscordLoopback(shards)
    await server.start()
    monkeypatch.setattr(discord.http.Route, "BASE", server.rest_base)
    monkeypatch.setattr(
        discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(server.ws_url)
    )
    try:
        yield server
    finally:
        await server.stop()
