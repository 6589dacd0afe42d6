"""`hearth run` with federation on, as a process: its own background loop (no test
driving it) accepts a signed Follow, tells the follower of a new public insight, and
stops cleanly. The follower is the loopback peer; real wall clock (the Date window)."""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.fakes.activitypub_peer import Peer
from tests.harness.config_builder import write_config
from tests.harness.processes import HearthProcess
from tests.test_federation import FEDERATION, PASSPHRASE_ENV, free_port

pytestmark = pytest.mark.slow


async def test_a_running_hearth_accepts_a_follow_and_tells_it_of_new_public_insights(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV, "process passphrase")
    port = free_port()
    extra = FEDERATION.replace('listen = "127.0.0.1:0"', f'listen = "127.0.0.1:{port}"')
    config = write_config(
        tmp_path / "hearth.toml",
        database_url,
        transcript=tmp_path / "console.jsonl",
        extra=extra + "poll_seconds = 1.0\n",
    )
    peer = Peer()
    await peer.start()
    base = f"http://127.0.0.1:{port}"
    with HearthProcess(config, tmp_path) as hearth:
        try:
            await asyncio.to_thread(hearth.expect, r"^Hearth console")
            hearth.send(":as cora", "/insight Small pull requests get better reviews")
            await asyncio.to_thread(hearth.expect, r"Captured insight #1")
            hearth.send("/insight share 1 public")
            await asyncio.to_thread(hearth.expect, r"Insight #1 is now public")
            follow = peer.follow(f"{base}/ap/c/guild")
            status = await peer.post(f"{base}/ap/c/guild/inbox", follow, datetime.now(UTC))
            await peer.wait_for(1)
            hearth.send("/insight Review checklists catch the boring mistakes")
            await asyncio.to_thread(hearth.expect, r"Captured insight #2")
            hearth.send("/insight share 2 public")
            await peer.wait_for(2)
            assert hearth.signal(signal.SIGTERM) == 0, hearth.describe("unclean exit")
            assert "Traceback" not in hearth.stderr()
        finally:
            await peer.stop()
    assert status == 202
    accept, create = (r.activity for r in peer.received)
    assert accept["type"] == "Accept" and accept["object"]["id"] == follow["id"]
    assert create["type"] == "Create"
    assert "Review checklists" in create["object"]["content"]
