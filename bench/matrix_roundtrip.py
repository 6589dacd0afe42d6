"""Matrix round trip: a user's `!search` to the bot's reply in that user's sync.

Why the floor beside it: on a real homeserver most of a reply's latency is Matrix itself
(an event is persisted, then wakes the long-polling `/sync` of everyone in the room). A
plain message from one user to another on the same Synapse, seen by the same client's
sync, is that floor. A reply needs two such deliveries (the command reaching the bot's
sync, the reply reaching the user's), so "2 x floor" is what a bot that did no work at all
would show; the rest is Hearth (InboundLog, role check, parse, search, rendering, send).

    .venv/bin/python bench/matrix_roundtrip.py               # 50 of each
    .venv/bin/python bench/matrix_roundtrip.py --count 200

The Synapse is the test suite's (`tests/fakes/synapse_server.py`: data on tmpfs, rate limits
raised, shared-secret registration) on a free port of 127.0.0.1, started and stopped by
this script. Hearth runs its real `MatrixAdapter` on a fresh SQLite file with a few
insights captured through `!insight` first. The users' side is raw HTTP (aiohttp) in the
same event loop as the bot: one client for Ann, who sends the commands and long-polls
`/sync`, and one for Bob, who sends the plain messages. Floor and search alternate, one
at a time, so both see the same server state; the first `--warmup` of each are dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import structlog

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.matrix import MatrixAdapter, MatrixConfig
from bot.app import Hearth
from bot.config import Config
from knowledge.inbound import InboundLog
from knowledge.sync_tokens import SyncTokens
from tests.fakes.synapse_server import (
    SERVER_NAME,
    MatrixUser,
    SynapseServer,
    SynapseStartError,
    running_synapse,
)
from tests.harness.config_builder import Channel, Community, build_config

WAIT = 30.0
SEEDS = (
    "Small pull requests get better reviews #review",
    "Write the failing test before the fix #testing",
    "Pair on the hard parts of a change #pairing",
    "Keep the incident timeline while it happens #incidents",
    "Retro actions need an owner and a date #retro",
    "Onboarding docs rot unless newcomers edit them #docs",
    "Review within the hour so authors keep context #review",
    "A runbook beats a hero at three in the morning #incidents",
)
QUERIES = ("review", "test", "incident", "docs", "owner", "hard parts", "newcomers", "hour")


class Watcher:
    """Ann's client: one long-poll `/sync` loop noting when each event arrives.

    Why keys rather than futures alone: an event can come through sync before the PUT
    that sent it has returned its id, so arrivals are remembered and looked up later.
    A message is keyed by its event id, a bot reply by `reply:<event it answers>`.
    """

    def __init__(self, session: aiohttp.ClientSession, server: SynapseServer, user: MatrixUser):
        self._session, self._server, self._user = session, server, user
        self._arrived: dict[str, float] = {}
        self._waiting: dict[str, asyncio.Future[float]] = {}
        self._since: str | None = None
        self.ready = asyncio.Event()
        self.replies: dict[str, str] = {}  # event id -> the bot's answer to it
        self.private: list[str] = []  # what the bot said by DM, keyed `private:<n>` (1-based)
        self._dms: set[str] = set()

    async def run(self) -> None:
        filter_ = json.dumps(
            {
                "presence": {"not_types": ["*"]},
                "account_data": {"not_types": ["*"]},
                "room": {"timeline": {"limit": 100}, "ephemeral": {"not_types": ["*"]}},
            }
        )
        while True:
            params = {"filter": filter_, "timeout": "0" if self._since is None else "30000"}
            if self._since is not None:
                params["since"] = self._since
            async with self._session.get(
                self._server.url + "/_matrix/client/v3/sync",
                params=params,
                headers={"Authorization": f"Bearer {self._user.access_token}"},
            ) as response:
                response.raise_for_status()
                body = await response.json()
            now = time.perf_counter()
            first = self._since is None
            self._since = body["next_batch"]
            if first:
                self.ready.set()
                continue  # history before the watcher started is not timed
            rooms = body.get("rooms") or {}
            for room_id in rooms.get("invite", {}):  # the bot's DM (private replies)
                await self._join(room_id)
            for room_id, room in rooms.get("join", {}).items():
                for event in room["timeline"]["events"]:
                    if room_id in self._dms:
                        self._private(event, now)
                    else:
                        self._event(event, now)

    async def _join(self, room_id: str) -> None:
        async with self._session.post(
            f"{self._server.url}/_matrix/client/v3/join/{quote(room_id)}",
            json={},
            headers={"Authorization": f"Bearer {self._user.access_token}"},
        ) as response:
            response.raise_for_status()
        self._dms.add(room_id)

    def _private(self, event: dict[str, Any], now: float) -> None:
        content = event.get("content") or {}
        if event.get("type") == "m.room.message" and content.get("msgtype") == "m.notice":
            self.private.append(str(content.get("body")))
            self._note(f"private:{len(self.private)}", now)

    def _event(self, event: dict[str, Any], now: float) -> None:
        """Note the event, and a bot's reply under `reply:<event it answers>`."""
        self._note(str(event["event_id"]), now)
        relates = (event.get("content") or {}).get("m.relates_to") or {}
        replied = (relates.get("m.in_reply_to") or {}).get("event_id")
        if replied and event.get("content", {}).get("msgtype") == "m.notice":
            self.replies[str(replied)] = str(event["content"].get("body"))
            self._note(f"reply:{replied}", now)

    def _note(self, key: str, when: float) -> None:
        self._arrived.setdefault(key, when)
        future = self._waiting.pop(key, None)
        if future is not None and not future.done():
            future.set_result(self._arrived[key])

    async def arrival(self, key: str) -> float:
        """When `key` came through Ann's sync (perf_counter seconds)."""
        if key in self._arrived:
            return self._arrived[key]
        future = self._waiting.setdefault(key, asyncio.get_running_loop().create_future())
        return await asyncio.wait_for(future, WAIT)


async def send(
    session: aiohttp.ClientSession, server: SynapseServer, who: MatrixUser, room: str, text: str
) -> tuple[float, str]:
    """Post a message as `who`; the clock starts before the request goes out."""
    path = f"/_matrix/client/v3/rooms/{quote(room)}/send/m.room.message/{uuid.uuid4().hex}"
    started = time.perf_counter()
    async with session.put(
        server.url + path,
        json={"msgtype": "m.text", "body": text},
        headers={"Authorization": f"Bearer {who.access_token}"},
    ) as response:
        response.raise_for_status()
        event_id = str((await response.json())["event_id"])
    return started, event_id


def hearth_config(database_url: str, exports: Path, room_id: str) -> Config:
    bench = Community("bench", "Bench", (Channel("matrix", SERVER_NAME, room_id),))
    return build_config(database_url, exports.parent, bench, console_user=None)


def matrix_adapter(
    server: SynapseServer, hearth: Hearth, bot: MatrixUser
) -> tuple[MatrixAdapter, asyncio.Event]:
    """Hearth's real Matrix adapter signed in as `bot`, and an event set at every sync."""
    synced = asyncio.Event()
    adapter = MatrixAdapter(
        MatrixConfig(
            enabled=True,
            homeserver=server.url,
            user_id=bot.user_id,
            access_token=bot.access_token,
            device_id=bot.device_id,
            sync_timeout_seconds=30,
            encryption=False,  # unencrypted rooms: measure the relay path, not key upkeep
        ),
        InboundLog(hearth.database),
        SyncTokens(hearth.database),
    )
    adapter.on_synced = lambda _: synced.set()
    return adapter, synced


async def start_adapter(
    server: SynapseServer, hearth: Hearth, bot: MatrixUser, room: str
) -> MatrixAdapter:
    """Hearth's real Matrix adapter, returned once it has joined `room`."""
    adapter, synced = matrix_adapter(server, hearth, bot)
    await adapter.connect()
    await adapter.start(hearth.inbound)
    async with asyncio.timeout(WAIT):
        while room not in adapter.client.rooms:
            synced.clear()
            await synced.wait()
    return adapter


def summary(samples: list[float]) -> tuple[float, float, float, float]:
    """Median, p95, min and max in milliseconds."""
    ms = sorted(s * 1000 for s in samples)
    p95 = statistics.quantiles(ms, n=20, method="inclusive")[18] if len(ms) > 1 else ms[0]
    return statistics.median(ms), p95, ms[0], ms[-1]


async def run(server: SynapseServer, count: int, warmup: int, workdir: Path) -> None:
    bot, ann, bob = server.register("hearth"), server.register("ann"), server.register("bob")
    room = str(
        server.request(
            "POST",
            "/_matrix/client/v3/createRoom",
            {"preset": "private_chat", "name": "bench", "invite": [bot.user_id, bob.user_id]},
            ann.access_token,
        )["room_id"]
    )
    server.request("POST", f"/_matrix/client/v3/join/{quote(room)}", {}, bob.access_token)

    config = hearth_config(f"sqlite:///{workdir / 'hearth.db'}", workdir / "exports", room)
    hearth = await Hearth.open(config)
    adapter = await start_adapter(server, hearth, bot, room)
    async with aiohttp.ClientSession() as session:
        watcher = Watcher(session, server, ann)
        watching = asyncio.create_task(watcher.run(), name="ann-sync")
        try:
            await asyncio.wait_for(watcher.ready.wait(), WAIT)
            for seed in SEEDS:
                _, event_id = await send(session, server, ann, room, f"!insight {seed}")
                await watcher.arrival(f"reply:{event_id}")

            floor: list[float] = []
            search: list[float] = []
            empty = 0
            for n in range(warmup + count):
                started, event_id = await send(session, server, bob, room, f"plain message {n}")
                floor_s = await watcher.arrival(event_id) - started
                query = QUERIES[n % len(QUERIES)]
                started, event_id = await send(session, server, ann, room, f"!search {query}")
                search_s = await watcher.arrival(f"reply:{event_id}") - started
                if n >= warmup:
                    floor.append(floor_s)
                    search.append(search_s)
                    empty += watcher.replies[event_id].startswith("No insights match")
        finally:
            watching.cancel()
            await asyncio.gather(watching, return_exceptions=True)
            await adapter.stop()
            await hearth.close()
    report(floor, search, count, warmup, empty)


def report(floor: list[float], search: list[float], count: int, warmup: int, empty: int) -> None:
    print(
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"matrix-synapse {metadata.version('matrix-synapse')}, "
        f"matrix-nio {metadata.version('matrix-nio')}; N={count} each (+{warmup} warm-up)"
    )
    print(f"{'':34}{'median':>9}{'p95':>9}{'min':>9}{'max':>9}")
    rows = (
        ("floor: Bob's message -> Ann's sync", summary(floor)),
        ("2 x floor", tuple(2 * v for v in summary(floor))),
        ("!search -> Hearth's reply in sync", summary(search)),
    )
    for label, (median, p95, low, high) in rows:
        print(f"{label:34}{median:>7.1f}ms{p95:>7.1f}ms{low:>7.1f}ms{high:>7.1f}ms")
    overhead = statistics.median(search) - 2 * statistics.median(floor)
    print(f"Hearth's share (median !search - 2 x median floor): {overhead * 1000:.1f} ms")
    print(f"searches that found insights: {count - empty}/{count} ({len(SEEDS)} insights stored)")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--count", type=int, default=50, help="timed round trips of each kind")
    parser.add_argument("--warmup", type=int, default=3, help="untimed round trips first")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    logging.basicConfig(level=logging.ERROR)
    try:
        with running_synapse() as server, tempfile.TemporaryDirectory() as workdir:
            asyncio.run(run(server, args.count, args.warmup, Path(workdir)))
    except SynapseStartError as exc:
        sys.exit(f"Synapse did not start: {exc}")


if __name__ == "__main__":
    main()
