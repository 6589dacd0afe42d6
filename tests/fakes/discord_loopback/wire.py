"""What the loopback Discord shares: ids, users, recorded calls, gateway sessions."""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

TOKEN = "loopback-token"
APP_ID = 1_000_000_000_000_000_001
GUILD = 1_000_000_000_000_000_100
CHANNEL = 1_000_000_000_000_000_200
OTHER_CHANNEL = 1_000_000_000_000_000_201
THREAD = 1_000_000_000_000_000_300
SECOND_GUILD = 1_000_000_000_000_000_110  # only there when a test adds it (`extra_guilds`)
SECOND_CHANNEL = 1_000_000_000_000_000_210  # its one channel
DM_CHANNEL = 1_000_000_000_000_000_250  # a person's direct messages with the bot
CURATOR_ROLE = 1_000_000_000_000_000_400
STEWARD_ROLE = 1_000_000_000_000_000_401
MANAGE_GUILD = 1 << 5
WAIT_SECONDS = 10.0  # a bound on any wait, so a broken test fails instead of hanging
EVERYONE_PERMISSIONS = 0b1111111111111111111111110 & ~MANAGE_GUILD & ~(1 << 3)


def _user(user_id: int, name: str, bot: bool = False) -> dict[str, Any]:
    return {
        "id": str(user_id),
        "username": name,
        "global_name": name.title(),
        "discriminator": "0",
        "avatar": None,
        "bot": bot,
    }


BOT = _user(1_000_000_000_000_000_002, "hearth", bot=True)
ALICE = _user(1_000_000_000_000_000_010, "alice")
BOB = _user(1_000_000_000_000_000_011, "bob")


def _now() -> str:
    return datetime.now(UTC).isoformat()


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    status: int = 200


@dataclass
class _Connection:
    ws: web.WebSocketResponse
    compress: bool
    zlib: Any = field(default_factory=zlib.compressobj)

    async def send(self, payload: dict[str, Any]) -> None:
        data = json.dumps(payload)
        if self.compress:
            await self.ws.send_bytes(
                self.zlib.compress(data.encode()) + self.zlib.flush(zlib.Z_SYNC_FLUSH)
            )
        else:
            await self.ws.send_str(data)


@dataclass
class _Session:
    session_id: str
    shard: tuple[int, int]
    seq: int = 0
    sent: list[dict[str, Any]] = field(default_factory=list)
    connection: _Connection | None = None


def _json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    # Exactly `application/json`: discord.py compares the header string (no charset).
    return web.Response(
        body=json.dumps(payload).encode(),
        status=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
