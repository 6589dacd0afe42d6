"""Hearth against an independent ActivityPub implementation: bovine (from the registry),
run as its own process on 127.0.0.1. Bovine follows a public community with a Follow it
signs itself; Hearth verifies it, and bovine's own verifier checks the signed Accept and
Create(Article) Hearth sends back. A Follow bovine signs with a key that is not its
actor's is refused.

Bovine pins an older `cryptography` than Hearth's, so it lives in a virtualenv of its own
(tests/fakes/bovine_env.py: made once with pip from the registry, cached in
~/.cache/hearth-tests, or $HEARTH_BOVINE_PYTHON; .ci/run makes it while it installs).
Real wall clock: bovine checks the Date against its own clock.
"""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.app import Hearth
from knowledge.clock import SystemClock
from tests.fakes.bovine_env import bovine_python
from tests.harness.console_harness import Step, make_config, run_script
from tests.harness.garden_harness import share
from tests.test_federation import FEDERATION, PASSPHRASE_ENV, base, federation

pytestmark = pytest.mark.slow

PEER = Path(__file__).parent / "fakes" / "bovine_peer.py"


class BovinePeer:
    def __init__(self, process: asyncio.subprocess.Process, port: int) -> None:
        self.process = process
        self.base = f"http://127.0.0.1:{port}"

    async def follow(self, hearth: Hearth, forge: bool = False) -> dict[str, Any]:
        wanted = {
            "target": base(hearth) + "/ap/c/guild",
            "inbox": base(hearth) + "/ap/c/guild/inbox",
            "forge": forge,
        }
        async with (
            aiohttp.ClientSession() as session,
            session.post(self.base + "/control/follow", json=wanted) as response,
        ):
            return dict(await response.json())

    async def wait_for(self, count: int) -> list[dict[str, Any]]:
        """What bovine received, once `count` activities arrived (the peer waits for them)."""
        url = f"{self.base}/received?count={count}"
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            assert response.status == 200, f"bovine received fewer than {count} activities"
            return list(await response.json())


@pytest.fixture
async def bovine() -> AsyncIterator[BovinePeer]:
    python = await asyncio.to_thread(bovine_python)
    process = await asyncio.create_subprocess_exec(
        str(python), str(PEER), stdout=asyncio.subprocess.PIPE, stderr=sys.stderr
    )
    assert process.stdout is not None
    async with asyncio.timeout(60):
        line = (await process.stdout.readline()).decode()
    assert line.startswith("READY "), f"the bovine peer did not start: {line!r}"
    yield BovinePeer(process, int(line.split()[1]))
    process.terminate()
    await process.wait()


async def test_bovine_follows_a_public_community_and_verifies_what_hearth_signs(
    bovine: BovinePeer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV, "bovine test passphrase")
    sqlite = f"sqlite+aiosqlite:///{tmp_path / 'hearth.db'}"
    config = make_config(sqlite, tmp_path, extra=FEDERATION)
    out = io.StringIO()
    state: dict[str, Any] = {}

    async def follow(hearth: Hearth) -> None:
        state["forged"] = await bovine.follow(hearth, forge=True)
        state["real"] = await bovine.follow(hearth)
        await federation(hearth).run_once()
        await bovine.wait_for(1)

    async def deliver(hearth: Hearth) -> None:
        await federation(hearth).run_once()
        state["received"] = await bovine.wait_for(2)

    text = "Small pull requests get better reviews #review"
    later = "Review checklists catch the boring mistakes #review"
    steps: list[Step] = [
        ":as cora",
        f"/insight {text}",
        share(out, text[:20]),
        follow,
        f"/insight {later}",
        share(out, later[:20]),
        deliver,
    ]
    await run_script(config, steps, SystemClock(), out=out)

    assert state["forged"]["status"] == 401, "a Follow bovine signed with another key"
    assert state["real"]["status"] == 202
    accept, create = state["received"]
    assert accept["activity"]["type"] == "Accept"
    assert accept["activity"]["object"]["id"] == state["real"]["id"]
    assert create["activity"]["type"] == "Create"
    assert "Review checklists" in create["activity"]["object"]["content"]
    owner = accept["activity"]["actor"]
    assert owner.endswith("/ap/c/guild")
    assert accept["verified_owner"] == owner, "bovine's verifier accepted Hearth's signature"
    assert create["verified_owner"] == owner
