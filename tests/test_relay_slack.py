"""Console ↔ Slack relays through the real slack-bolt/slack_sdk code paths: a loopback Web
API that goes down (503), rate limits (429 + Retry-After) and comes back; parking, the
notice in the origin thread, /relay status and /relay retry; replies and edits from Slack.

Time is a ManualClock: backoff and Retry-After are stepped over, never waited for.
"""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.console.adapter import ConsoleAdapter
from adapters.slack import SlackAdapter, SlackConfig
from bot.app import Hearth
from knowledge.clock import ManualClock
from knowledge.inbound import InboundLog
from tests.fakes.slack_loopback import (
    FORM,
    JSON,
    SECRET,
    TEAM,
    Answer,
    LoopbackSlack,
    command_body,
    event_body,
    send,
)
from tests.harness.config_builder import GUILD, Channel, Community, build_config


def config(database_url: str, tmp_path: Path) -> Any:
    forge = Community("forge", "The Forge", (Channel("slack", TEAM, "C1"),), ("slack:USTEVE",))
    relay = "[relay]\nmax_failures = 3\nbackoff_seconds = 2.0\n"
    return build_config(database_url, tmp_path, GUILD, forge, extra=relay)


@dataclass
class World:
    hearth: Hearth
    api: LoopbackSlack
    slack: SlackAdapter
    clock: ManualClock
    out: io.StringIO
    lines: asyncio.Queue[str | None]
    handled: asyncio.Queue[None]
    delivered: dict[str, asyncio.Future[None]]

    async def say(self, *lines: str) -> str:
        """Type lines into the console; returns what the console printed meanwhile."""
        start = len(self.out.getvalue())
        for line in lines:
            await self.lines.put(line)
            await self.handled.get()
        return self.out.getvalue()[start:]

    async def drain(self) -> int:
        return await self.hearth.relay_worker.drain()

    async def later(self, seconds: float) -> int:
        self.clock.advance(timedelta(seconds=seconds))
        return await self.drain()

    async def slack_event(self, event: dict[str, Any], event_id: str) -> None:
        done = self.delivered.setdefault(event_id, asyncio.get_running_loop().create_future())
        sent = await send(self.url, event_body(event, event_id), JSON)
        assert sent.status == 200, sent.text
        await asyncio.wait_for(done, 60)  # a hang guard

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.slack.http_port}/slack/events"

    def posts(self) -> list[dict[str, Any]]:
        """What Slack accepted from chat.postMessage, in order (failed calls excluded)."""
        return [m for m in self.api.messages.get("C1", []) if m.get("bot_id")]


@pytest.fixture
async def world(database_url: str, tmp_path: Path) -> AsyncIterator[World]:
    api = LoopbackSlack()
    await api.start()
    for user, name in (("USTEVE", "steve"), ("UBOB", "bob")):
        api.add_user(user, name)
    clock = ManualClock(datetime(2026, 11, 29, 12, 0, tzinfo=UTC))
    settings = config(database_url, tmp_path)
    hearth = await Hearth.open(settings, clock, relay_in_background=False)
    slack_config = SlackConfig(
        enabled=True,
        signing_secret=SECRET,
        bot_token="xoxb-test",
        api_url=api.api_url,
        port=0,
        rate_limit_retries=0,  # a 429 reaches the outbox, which honours Retry-After
    )
    slack = SlackAdapter(slack_config, InboundLog(hearth.database))
    delivered: dict[str, asyncio.Future[None]] = {}

    def done(event_id: str) -> None:
        future = delivered.setdefault(event_id, asyncio.get_running_loop().create_future())
        if not future.done():
            future.set_result(None)

    slack.on_delivered = done
    lines: asyncio.Queue[str | None] = asyncio.Queue()
    handled: asyncio.Queue[None] = asyncio.Queue()
    first = True

    async def read_line() -> str | None:
        nonlocal first
        if not first:
            handled.put_nowait(None)  # the previous line is fully handled
        first = False
        return await lines.get()

    out = io.StringIO()
    console = ConsoleAdapter(settings.adapters.console, read_line, out)
    stop = asyncio.Event()  # the console's input ending alone leaves Slack serving
    running = asyncio.create_task(hearth.run([console, slack], stop))
    world = World(hearth, api, slack, clock, out, lines, handled, delivered)
    try:
        await asyncio.wait_for(api.wait_calls("auth.test"), 60)
        await world.say(":as steve")
        yield world
    finally:
        await lines.put(None)
        stop.set()
        await running
        await hearth.close()
        await api.close()


async def link(world: World) -> None:
    printed = await world.say("/constellation invite")
    code = re.findall(r"HL-[A-Z0-9-]+", printed)[-1]
    trigger = "accept"
    body = command_body(
        "/constellation",
        f"accept {code}",
        "USTEVE",
        world.api.response_url(trigger),
        trigger=trigger,
    )
    count = len(world.api.responses)
    assert (await send(world.url, body, FORM)).status == 200
    await world.api.wait_for(lambda: len(world.api.responses) > count)
    assert "Linked with *The Guild*" in str(world.api.responses[-1])


async def relay_root(world: World, text: str = "Which test runner?") -> tuple[str, str]:
    printed = await world.say(":as alice", text)
    root = re.findall(rf"#(\d+) alice: {re.escape(text)}", printed)[-1]
    await world.say(f":reply {root} /relay")
    await world.drain()
    copy = world.posts()[-1]
    assert copy["username"] == "alice (The Guild)"
    return root, copy["ts"]


async def test_outage_and_rate_limit_then_everything_in_order(world: World) -> None:
    await link(world)
    root, root_copy = await relay_root(world)
    for answer in (
        Answer(503, {"ok": False, "error": "service_unavailable"}),
        Answer(503, {"ok": False, "error": "service_unavailable"}),
        Answer(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "30"}),
    ):
        world.api.queue("chat.postMessage", answer)
    await world.say(*(f":reply {root} reply {n}" for n in (1, 2, 3)))

    assert await world.drain() == 1  # the first reply tried, refused; the others wait behind it
    assert await world.later(5) == 1  # second 503
    assert await world.later(10) == 1  # 429: Retry-After 30 s
    assert await world.later(10) == 0  # not yet
    await world.later(25)

    texts = [m["text"].split("\n")[0] for m in world.posts()[1:]]
    assert texts == ["reply 1", "reply 2", "reply 3"]
    assert all(m["thread_ts"] == root_copy for m in world.posts()[1:])
    status = await world.say("/relay status")
    assert "4 delivered, 0 queued, 0 failing" in status


async def test_a_target_that_keeps_failing_is_parked_reported_and_retried(world: World) -> None:
    await link(world)
    root, _ = await relay_root(world)
    for _ in range(3):
        world.api.queue("chat.postMessage", Answer(503, {"ok": False, "error": "fatal_error"}))
    await world.say(f":reply {root} first", f":reply {root} second")
    await world.drain()
    await world.later(60)
    printed_before = world.out.getvalue()
    await world.later(600)

    notice = world.out.getvalue()[len(printed_before) :]
    assert "I could not relay this to The Forge" in notice
    assert f"→ #{root}" in notice  # said in the thread it came from
    status = await world.say("/relay status")
    assert "1 delivered, 1 queued, 1 failing" in status and "fatal_error" in status
    assert len(world.posts()) == 1  # neither reply got through, the second waits its turn

    await world.later(3600)
    assert len(world.posts()) == 1  # parked: not retried forever
    refused = await world.say("/relay retry forge")
    assert "Only stewards can use /relay retry" in refused
    assert "Trying 1 parked relay(s) again" in await world.say(":as steve", "/relay retry forge")
    await world.drain()
    assert [m["text"].split("\n")[0] for m in world.posts()[1:]] == ["first", "second"]


async def test_replies_and_edits_on_slack_come_back_into_the_console_thread(
    world: World,
) -> None:
    await link(world)
    root, root_copy = await relay_root(world)
    reply = {
        "type": "message",
        "user": "UBOB",
        "text": "pytest with *anyio*",
        "ts": "1800000000.000100",
        "channel": "C1",
        "thread_ts": root_copy,
    }
    await world.slack_event(reply, "EvR1")
    await world.drain()
    assert re.search(
        rf"bob \(The Forge\) via hearth → #{root}: pytest with anyio", world.out.getvalue()
    )

    edited = {
        "type": "message",
        "subtype": "message_changed",
        "channel": "C1",
        "ts": "1800000000.000200",
        "message": {**reply, "text": "pytest with *pytest-asyncio*"},
        "previous_message": reply,
    }
    await world.slack_event(edited, "EvR2")
    await world.drain()
    assert "edited by hearth: pytest with pytest-asyncio" in world.out.getvalue()
    assert await world.drain() == 0  # and nothing echoes back (copies are not relayed)


async def slash(world: World, user: str, command: str, text: str, trigger: str) -> str:
    body = command_body(command, text, user, world.api.response_url(trigger), trigger=trigger)
    count = len(world.api.responses)
    assert (await send(world.url, body, FORM)).status == 200
    await world.api.wait_for(lambda: len(world.api.responses) > count)
    return str(world.api.responses[-1])


async def test_a_slack_community_finds_what_a_console_community_shared(world: World) -> None:
    """Cross-platform: the Guild (console) shares an insight; the Forge (Slack) finds it with
    scope:constellation, rendered as Slack mrkdwn and credited to the Guild."""
    await link(world)
    await world.say("/constellation share forge on")
    await slash(world, "USTEVE", "/constellation", "share guild on", "k1")
    printed = await world.say(":as cora", "/insight Write decisions down #adr", ":as steve")
    insight = re.findall(r"Captured insight #(\d+)", printed)[-1]
    await world.say(f"/insight share {insight} constellation")
    await world.say("/insight Private incident notes #incidents")

    found = await slash(world, "UBOB", "/search", "decisions scope:constellation", "k2")
    assert "(from *The Guild*)" in found and "#adr" in found
    assert "Write *decisions* down" in found and "**" not in found  # Slack bold: one star
    hidden = await slash(world, "UBOB", "/search", "incident scope:constellation", "k3")
    assert "No insights match" in hidden
