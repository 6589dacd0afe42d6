"""The set-up most federation tests share: one Hearth whose Guild publishes, one loopback
ActivityPub follower (tests/fakes/activitypub_peer.py), one ManualClock, and the steps
that have the follower follow and deliveries go out."""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from bot.app import Hearth
from bot.config import Config
from bot.federation.service import Federation
from knowledge.clock import ManualClock
from tests.fakes.activitypub_peer import Peer
from tests.harness.console_harness import Step, run_script

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
Action = Callable[[Hearth], Awaitable[None]]  # a script step that does, not types


def base(hearth: Hearth) -> str:
    assert hearth.ops is not None
    return f"http://127.0.0.1:{hearth.ops.port}"


def federation(hearth: Hearth) -> Federation:
    assert hearth.federation is not None
    return hearth.federation


async def get(hearth: Hearth, path: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.get(base(hearth) + path) as response:
        body = await response.json(content_type=None) if response.status < 500 else None
        return response.status, body


@dataclass
class Scene:
    clock: ManualClock = field(default_factory=lambda: ManualClock(START))
    peer: Peer = field(default_factory=Peer)
    out: io.StringIO = field(default_factory=io.StringIO)
    state: dict[str, Any] = field(default_factory=dict)

    def follow(self, then_fail_with: int | None = None) -> Action:
        """The peer follows the Guild and gets its Accept; then answers `then_fail_with`."""

        async def follow(hearth: Hearth) -> None:
            await self.peer.start()
            inbox = base(hearth) + "/ap/c/guild/inbox"
            follow = self.peer.follow(base(hearth) + "/ap/c/guild")
            await self.peer.post(inbox, follow, self.clock.now())
            await federation(hearth).run_once()
            await self.peer.wait_for(1)
            self.peer.fail_with = then_fail_with

        return follow

    def deliver(self, then_advance: timedelta | None = None) -> Action:
        """One round of the federation's work; then the clock moves on `then_advance`."""

        async def deliver(hearth: Hearth) -> None:
            await federation(hearth).run_once()
            if then_advance is not None:
                self.clock.advance(then_advance)

        return deliver

    async def run(self, config: Config, steps: list[Step]) -> None:
        """The script against a Hearth, the peer stopped afterwards whatever happened."""
        try:
            await run_script(config, steps, self.clock, out=self.out)
        finally:
            await self.peer.stop()
