"""The gateway: HELLO, IDENTIFY → READY + GUILD_CREATE, heartbeats, RESUME with replay,
zlib-stream and shards; and dispatching events to connected clients."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.discord_loopback.wire import (
    APP_ID,
    BOT,
    GUILD,
    _Connection,
    _Session,
)


class Gateway:
    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        connection = _Connection(ws, request.query.get("compress") == "zlib-stream")
        await connection.send({"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None})
        async for frame in ws:
            if frame.type is not WSMsgType.TEXT:
                continue
            payload = json.loads(frame.data)
            self.gateway_log.append(payload)
            op, data = payload.get("op"), payload.get("d")
            if op == 1:
                await connection.send({"op": 11, "d": None, "s": None, "t": None})
            elif op == 2:
                await self._identify(connection, data)
            elif op == 6:
                await self._resume(connection, data)
            await self._changed_now()
        return ws

    extra_guilds: list[int]

    def guild_ids(self, shard: tuple[int, int]) -> list[int]:
        return [g for g in (GUILD, *self.extra_guilds) if (g >> 22) % shard[1] == shard[0]]

    async def _identify(self, connection: _Connection, data: dict[str, Any]) -> None:
        shard_id, count = data.get("shard") or [0, 1]
        session = _Session(f"session-{self.next_id()}", (shard_id, count))
        session.connection = connection
        self.sessions[shard_id] = session
        self._by_id[session.session_id] = session
        guilds = self.guild_ids(session.shard)
        await self.dispatch(
            "READY",
            {
                "v": 10,
                "user": BOT,
                "guilds": [{"id": str(g), "unavailable": True} for g in guilds],
                "session_id": session.session_id,
                "resume_gateway_url": self.ws_url,
                "shard": [shard_id, count],
                "application": {"id": str(APP_ID), "flags": 0},
                "private_channels": [],
                "relationships": [],
            },
            shard=shard_id,
        )
        for guild in guilds:
            await self.dispatch("GUILD_CREATE", self.guild_payload(guild), shard=shard_id)

    async def _resume(self, connection: _Connection, data: dict[str, Any]) -> None:
        session = self._by_id[data["session_id"]]
        session.connection = connection
        for payload in session.sent:
            if payload["s"] > data["seq"]:
                await connection.send(payload)
        await self.dispatch("RESUMED", {}, shard=session.shard[0])

    @property
    def guild_shard(self) -> int:
        return (GUILD >> 22) % self.shards

    async def dispatch(self, event: str, data: dict[str, Any], shard: int | None = None) -> None:
        """Send a dispatch; while the shard is disconnected it waits for RESUME's replay."""
        session = self.sessions[self.guild_shard if shard is None else shard]
        session.seq += 1
        payload = {"op": 0, "t": event, "s": session.seq, "d": data}
        session.sent.append(payload)
        if session.connection is not None:
            await session.connection.send(payload)

    async def drop(self, shard: int | None = None, code: int = 4000) -> None:
        """Close the shard's connection as a network fault would; the client should RESUME."""
        session = self.sessions[self.guild_shard if shard is None else shard]
        connection, session.connection = session.connection, None
        if connection is not None:
            await connection.ws.close(code=code)

    def resumes(self) -> list[dict[str, Any]]:
        return [p for p in self.gateway_log if p.get("op") == 6]

    def identifies(self) -> list[dict[str, Any]]:
        return [p for p in self.gateway_log if p.get("op") == 2]
