"""The sync watchdog against the real Synapse, through a loopback proxy that can go silent.

Why a proxy: the failure the watchdog exists for is a long poll on an open connection that
never answers (a proxy or load balancer that stopped forwarding), which no error reveals.
The proxy here forwards every request and response, except that while it is paused it
holds back the responses to `/sync` (the connection stays open, nothing arrives), the
honest shape of that stall. Waiting is on futures the adapter resolves, never on sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from structlog.testing import capture_logs

from tests.fakes.synapse_server import SynapseServer, synapse  # noqa: F401
from tests.harness.matrix_harness import WAIT, Env, matrix_env

METHODS = (b"GET", b"PUT", b"POST", b"DELETE", b"HEAD", b"OPTIONS", b"PATCH")


class StallingProxy:
    """127.0.0.1 → Synapse; `pause()` holds `/sync` responses until `resume()`."""

    def __init__(self, target: str) -> None:
        parsed = urlparse(target)
        self._host, self._port = parsed.hostname or "127.0.0.1", int(parsed.port or 80)
        self._flowing = asyncio.Event()
        self._flowing.set()
        self.held = asyncio.Event()  # a sync response is being held back
        self.resynced = asyncio.Event()  # a second /sync was asked for while paused
        self._paused_syncs = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def pause(self) -> None:
        self.held.clear()
        self.resynced.clear()
        self._paused_syncs = 0
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            up_reader, up_writer = await asyncio.open_connection(self._host, self._port)
        except OSError:
            writer.close()
            self._tasks.discard(task)
            return
        request_line = [b""]  # the request this connection is answering (keep-alive: last)

        async def upstream() -> None:
            while data := await reader.read(65536):
                first = data.split(b"\r\n", 1)[0]
                if first.split(b" ", 1)[0] in METHODS:
                    request_line[0] = first
                    if b"/sync" in first and not self._flowing.is_set():
                        self._paused_syncs += 1
                        if self._paused_syncs >= 2 or self.held.is_set():
                            self.resynced.set()
                up_writer.write(data)
                await up_writer.drain()

        async def downstream() -> None:
            while data := await up_reader.read(65536):
                if b"/sync" in request_line[0] and not self._flowing.is_set():
                    self.held.set()
                    await self._flowing.wait()
                writer.write(data)
                await writer.drain()

        pumps = [asyncio.ensure_future(upstream()), asyncio.ensure_future(downstream())]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            for pump in pumps:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await pump
            for stream in (writer, up_writer):
                stream.close()
            self._tasks.discard(task)


@pytest.fixture
async def proxied(
    synapse: SynapseServer,  # noqa: F811
    database_url: str,
    tmp_path: Path,
) -> AsyncIterator[tuple[Env, StallingProxy]]:
    proxy = StallingProxy(synapse.url)
    await proxy.start()
    try:
        async with matrix_env(
            synapse,
            database_url,
            tmp_path,
            homeserver=proxy.url,
            sync_timeout_seconds=30,  # nio gives up on a poll after 45 s: longer than WAIT
            watchdog_interval_seconds=0.2,
            watchdog_timeout_seconds=1.5,
        ) as env:
            yield env, proxy
    finally:
        await proxy.close()


def signal(adapter: Any, hook: str) -> asyncio.Future[float]:
    """A future the adapter's `hook` (`on_probed`, `on_stalled`) resolves next time."""
    future: asyncio.Future[float] = asyncio.get_running_loop().create_future()

    def fire(value: float) -> None:
        if not future.done():
            future.set_result(value)

    setattr(adapter, hook, fire)
    return future


async def test_a_silent_sync_is_noticed_logged_and_restarted(
    proxied: tuple[Env, StallingProxy],
) -> None:
    env, proxy = proxied
    room, ann, adapter = env.room, env.ann, env.adapter
    assert adapter is not None
    stalls: list[float] = []
    adapter.on_stalled = stalls.append
    await asyncio.wait_for(signal(adapter, "on_probed"), WAIT)  # probes come back
    assert not stalls
    before = room.say(ann, "Before the stall")
    await env.wait(before)

    with capture_logs() as logs:
        proxy.pause()
        stalled = signal(adapter, "on_stalled")
        missed = room.say(ann, "Said while the sync was silent")
        await asyncio.wait_for(proxy.held.wait(), WAIT)
        stalled_for = await asyncio.wait_for(stalled, WAIT)
        await asyncio.wait_for(proxy.resynced.wait(), WAIT)  # a new long poll, same token
        assert missed not in env.received  # nothing came through the silent connection
        probed = signal(adapter, "on_probed")
        proxy.resume()
        await env.wait(missed)
        await asyncio.wait_for(probed, WAIT)  # and the probes come back again

    entries = [e for e in logs if e["event"] == "matrix.stalled"]
    assert entries, logs
    assert entries[0]["log_level"] == "warning" and entries[0]["restarting"] is True
    assert entries[0]["probe_waited"] >= 1.5 and entries[0]["stalled_for"] > 0
    assert stalled_for > 0
    assert env.received.count(missed) == 1 and env.received.count(before) == 1
    assert len(env.received) == len(set(env.received))
    after = room.say(ann, "After the stall")
    await env.wait(after)


async def test_a_watchdog_interval_of_zero_turns_the_probe_off(
    synapse: SynapseServer,  # noqa: F811
    database_url: str,
    tmp_path: Path,
) -> None:
    async with matrix_env(synapse, database_url, tmp_path, watchdog_interval_seconds=0) as env:
        adapter = env.adapter
        assert adapter is not None and adapter._watchdog is None
        said = env.room.say(env.ann, "no probes here")
        await env.wait(said)
