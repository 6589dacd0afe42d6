"""Hearth with the Matrix adapter in a room of a real Synapse on 127.0.0.1: the room
(people act through the client-server API with their own tokens), what the adapter
handled, and the `matrix` fixture. Waiting is on futures the adapter resolves."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from adapters.matrix import MatrixAdapter, MatrixConfig
from bot.app import Hearth
from bot.ops.server import OpsServer
from knowledge.inbound import InboundLog
from knowledge.sync_tokens import SyncTokens
from knowledge.views import InsightView
from tests.fakes.synapse_server import MatrixUser, SynapseServer
from tests.harness.config_builder import Channel, Community, build_config

WAIT = 60.0  # a guard against hangs, not a time limit


@dataclass
class Room:
    server: SynapseServer
    room_id: str

    def send(self, who: MatrixUser, content: dict[str, Any], kind: str = "m.room.message") -> str:
        path = f"/_matrix/client/v3/rooms/{quote(self.room_id)}/send/{kind}/{uuid.uuid4().hex}"
        return str(self.server.request("PUT", path, content, who.access_token)["event_id"])

    def say(self, who: MatrixUser, text: str, **extra: Any) -> str:
        return self.send(who, {"msgtype": "m.text", "body": text, **extra})

    def redact(self, who: MatrixUser, event_id: str) -> str:
        path = (
            f"/_matrix/client/v3/rooms/{quote(self.room_id)}/redact/{quote(event_id)}/"
            f"{uuid.uuid4().hex}"
        )
        return str(self.server.request("PUT", path, {}, who.access_token)["event_id"])

    def replies_to(self, who: MatrixUser, event_id: str) -> list[dict[str, Any]]:
        """The notices that answer `event_id`, oldest first."""
        path = f"/_matrix/client/v3/rooms/{quote(self.room_id)}/messages?dir=b&limit=100"
        chunk = self.server.request("GET", path, None, who.access_token)["chunk"]
        return [
            e["content"]
            for e in reversed(chunk)
            if e["type"] == "m.room.message"
            and e["content"].get("msgtype") == "m.notice"
            and ((e["content"].get("m.relates_to") or {}).get("m.in_reply_to") or {}).get(
                "event_id"
            )
            == event_id
        ]


class Recorder:
    """The real Inbound, with the neutral events the adapter delivered kept in order."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.events: list[Any] = []

    async def message_posted(self, event: Any, port: Any) -> None:
        self.events.append(event)
        await self.inner.message_posted(event, port)

    async def message_edited(self, event: Any) -> None:
        self.events.append(event)
        await self.inner.message_edited(event)

    async def message_deleted(self, event: Any) -> None:
        self.events.append(event)
        await self.inner.message_deleted(event)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@dataclass
class Env:
    server: SynapseServer
    hearth: Hearth
    bot: MatrixUser
    ann: MatrixUser
    room: Room
    adapter: MatrixAdapter | None = None
    recorder: Recorder | None = None
    handled: dict[str, asyncio.Future[None]] = field(default_factory=dict)
    received: list[str] = field(default_factory=list)
    synced: asyncio.Event = field(default_factory=asyncio.Event)
    ops: OpsServer | None = None  # the operations server the media proxy mounts on

    def expect(self, event_id: str) -> asyncio.Future[None]:
        return self.handled.setdefault(event_id, asyncio.get_running_loop().create_future())

    async def wait(self, event_id: str) -> None:
        await asyncio.wait_for(self.expect(event_id), WAIT)

    def _handled(self, event_id: str) -> None:
        future = self.expect(event_id)
        if not future.done():
            future.set_result(None)

    async def until(self, condition: Callable[[], bool]) -> None:
        """Wait sync by sync (the adapter reports each) until `condition` holds."""
        async with asyncio.timeout(WAIT):
            while not condition():
                self.synced.clear()
                await self.synced.wait()

    async def start_adapter(self, **overrides: Any) -> MatrixAdapter:
        settings: dict[str, Any] = {
            "enabled": True,
            "homeserver": self.server.url,
            "user_id": self.bot.user_id,
            "access_token": self.bot.access_token,
            "device_id": self.bot.device_id,
            "sync_timeout_seconds": 5,
            "store_path": self.hearth.config.hearth.export_dir.parent / "matrix-store",
        }
        config = MatrixConfig(**{**settings, **overrides})
        database = self.hearth.database
        ops = self.ops
        adapter = MatrixAdapter(
            config,
            InboundLog(database),
            SyncTokens(database),
            server=ops,
            public_url=lambda: f"http://127.0.0.1:{ops.port}" if ops else "",
        )
        adapter.on_handled = self._handled
        adapter.on_received = self.received.append
        adapter.on_synced = lambda _: self.synced.set()
        await adapter.connect()
        if self.recorder is None:
            self.recorder = Recorder(self.hearth.inbound)
        await adapter.start(self.recorder)  # type: ignore[arg-type]
        self.adapter = adapter
        await self.until(lambda: self.room.room_id in adapter.client.rooms)
        return adapter

    async def insight_for(self, event_id: str) -> InsightView | None:
        community = await self.hearth.services.directory.community_by_slug("guild")
        assert community is not None
        return await self.hearth.services.insights.find_by_source(
            community.id, "matrix", self.server.server_name, self.room.room_id, event_id
        )

    async def command(
        self, text: str, *, who: MatrixUser | None = None, **extra: Any
    ) -> dict[str, Any]:
        event_id = self.room.say(who or self.ann, text, **extra)
        await self.wait(event_id)
        replies = self.room.replies_to(self.ann, event_id)
        assert len(replies) == 1, replies
        return replies[0]

    def join(self, prefix: str) -> MatrixUser:
        """A new member of the room (power level 0), invited by Ann."""
        user = self.server.register(prefix)
        room_id = quote(self.room.room_id)
        self.server.request(
            "POST",
            f"/_matrix/client/v3/rooms/{room_id}/invite",
            {"user_id": user.user_id},
            self.ann.access_token,
        )
        self.server.request("POST", f"/_matrix/client/v3/join/{room_id}", {}, user.access_token)
        return user


def hearth_config(database_url: str, tmp_path: Path, room_id: str) -> Any:
    guild = Community("guild", "The Guild", (Channel("matrix", "hearth.test", room_id),))
    return build_config(database_url, tmp_path, guild, console_user=None)


@pytest.fixture
async def matrix(
    synapse: SynapseServer,
    database_url: str,
    tmp_path: Path,
) -> AsyncIterator[Env]:
    async with matrix_env(synapse, database_url, tmp_path) as env:
        yield env


@contextlib.asynccontextmanager
async def matrix_env(
    synapse: SynapseServer,
    database_url: str,
    tmp_path: Path,
    **overrides: Any,
) -> AsyncIterator[Env]:
    """Ann's room with the bot invited, and Hearth running with the adapter in it."""
    bot, ann = synapse.register("hearth"), synapse.register("ann")
    created = synapse.request(
        "POST",
        "/_matrix/client/v3/createRoom",
        {"preset": "private_chat", "name": "practice", "invite": [bot.user_id]},
        ann.access_token,
    )
    room = Room(synapse, created["room_id"])
    room.say(ann, "!insight history before the bot came #old")
    hearth = await Hearth.open(hearth_config(database_url, tmp_path, room.room_id))
    env = Env(synapse, hearth, bot, ann, room)
    try:
        await env.start_adapter(**overrides)
        yield env
    finally:
        if env.adapter is not None:
            await env.adapter.stop()
        await hearth.close()


def notices(room: Room, who: MatrixUser) -> list[dict[str, Any]]:
    path = f"/_matrix/client/v3/rooms/{quote(room.room_id)}/messages?dir=b&limit=100"
    chunk = room.server.request("GET", path, None, who.access_token)["chunk"]
    return [
        e["content"]
        for e in reversed(chunk)
        if e["type"] == "m.room.message" and e["content"].get("msgtype") == "m.notice"
    ]


def private_notices(server: SynapseServer, bot: MatrixUser, who: MatrixUser) -> list[str]:
    """What the bot told `who` by DM (the rooms its `m.direct` names for them, joined on
    the way), oldest first."""
    path = f"/_matrix/client/v3/user/{quote(bot.user_id)}/account_data/m.direct"
    rooms = server.request("GET", path, None, bot.access_token).get(who.user_id, [])
    said: list[str] = []
    for room_id in rooms:
        server.request("POST", f"/_matrix/client/v3/join/{quote(room_id)}", {}, who.access_token)
        said += [str(n["body"]) for n in notices(Room(server, room_id), who)]
    return said
