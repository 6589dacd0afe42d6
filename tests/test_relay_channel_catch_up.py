"""Top-level messages posted while Hearth was down, in a channel linked whole, are relayed
after the restart: Slack through slack-bolt/slack_sdk against the loopback Web API.

The Forge's Slack channel C1 is linked whole with the Guild's console #general. Hearth
stops; people keep posting in C1 (more than one page of history, a thread with a reply,
a join notice); Hearth starts again and each message reaches #general once, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete

from adapters.console.adapter import ConsoleAdapter
from adapters.slack import SlackAdapter, SlackConfig
from bot.app import Hearth
from knowledge.clock import ManualClock
from knowledge.db import open_database
from knowledge.inbound import InboundLog
from knowledge.models import SyncCursor
from knowledge.relays import CHANNEL_KEY
from tests.fakes.slack_loopback import (
    FORM,
    JSON,
    SECRET,
    TEAM,
    LoopbackSlack,
    command_body,
    event_body,
    send,
)
from tests.harness.config_builder import GUILD, Channel, Community, build_config
from tests.harness.relay_steps import in_channel

FORGE = Community("forge", "The Forge", (Channel("slack", TEAM, "C1"),), ("slack:USTEVE",))


@dataclass
class Session:
    """One run of Hearth (console + Slack) until `stop`."""

    hearth: Hearth
    slack: SlackAdapter
    out: io.StringIO
    lines: asyncio.Queue[str | None]
    handled: asyncio.Queue[None]
    delivered: dict[str, asyncio.Future[None]]

    async def say(self, *lines: str) -> str:
        start = len(self.out.getvalue())
        for line in lines:
            await self.lines.put(line)
            await self.handled.get()
        return self.out.getvalue()[start:]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.slack.http_port}/slack/events"

    async def slack_event(self, event: dict[str, Any], event_id: str) -> None:
        done = self.delivered.setdefault(event_id, asyncio.get_running_loop().create_future())
        sent = await send(self.url, event_body(event, event_id), JSON)
        assert sent.status == 200, sent.text
        await asyncio.wait_for(done, 60)  # a hang guard

    async def caught_up(self) -> None:
        await asyncio.wait_for(self.hearth.services.relays.caught_up("slack"), 60)
        await self.hearth.relay_worker.drain()


@contextlib.asynccontextmanager
async def running(database_url: str, tmp_path: Path, api: LoopbackSlack) -> AsyncIterator[Session]:
    clock = ManualClock(datetime(2026, 11, 29, 12, 0, tzinfo=UTC))
    unpaced = "[relay.catch_up_requests_per_second]\nslack = 0.0\n"  # pacing has its tests
    settings = build_config(database_url, tmp_path, GUILD, FORGE, extra=unpaced)
    hearth = await Hearth.open(settings, clock, relay_in_background=False)
    slack_config = SlackConfig(
        enabled=True, signing_secret=SECRET, bot_token="xoxb-test", api_url=api.api_url, port=0
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
            handled.put_nowait(None)
        first = False
        return await lines.get()

    out = io.StringIO()
    console = ConsoleAdapter(settings.adapters.console, read_line, out)
    stop = asyncio.Event()
    calls = len(api.named("auth.test"))
    task = asyncio.create_task(hearth.run([console, slack], stop))
    try:
        await asyncio.wait_for(api.wait_calls("auth.test", calls + 1), 60)
        session = Session(hearth, slack, out, lines, handled, delivered)
        await session.say(":as steve")
        yield session
    finally:
        await lines.put(None)
        stop.set()
        await task
        await hearth.close()


async def link_whole_channel(session: Session, api: LoopbackSlack) -> None:
    printed = await session.say("/constellation invite")
    code = re.findall(r"HL-[A-Z0-9-]+", printed)[-1]
    body = command_body(
        "/constellation", f"accept {code}", "USTEVE", api.response_url("a"), trigger="a"
    )
    count = len(api.responses)
    assert (await send(session.url, body, FORM)).status == 200
    await api.wait_for(lambda: len(api.responses) > count)
    assert "Linked with *The Guild*" in str(api.responses[-1])
    assert "every thread" in await session.say("/constellation scope forge mode:channel")


async def forget_channel_positions(database_url: str) -> None:
    database = open_database(database_url)
    try:
        async with database.sessions.begin() as session:
            gone = await session.execute(
                delete(SyncCursor).where(SyncCursor.key.startswith(CHANNEL_KEY))
            )
            assert gone.rowcount == 1  # C1's, saved by the pass
    finally:
        await database.dispose()


def from_slack(tmp_path: Path) -> list[tuple[str, int | None]]:
    """What reached the Guild's #general from Slack: (text, reply_to), in order."""
    return [
        (m["text"], m["reply_to"])
        for m in in_channel(tmp_path, "general")
        if (m.get("shown_as") or "").endswith("(The Forge)")
    ]


async def test_top_level_messages_posted_while_down_arrive_once_in_order_after_a_restart(
    database_url: str, tmp_path: Path
) -> None:
    api = LoopbackSlack()
    await api.start()
    for user, name in (("USTEVE", "steve"), ("UBOB", "bob")):
        api.add_user(user, name)
    try:
        async with running(database_url, tmp_path, api) as session:
            await link_whole_channel(session, api)
            live = {
                "type": "message",
                "user": "UBOB",
                "text": "Before the outage",
                "ts": "1800000500.000001",
                "channel": "C1",
            }
            api.add_message("C1", "UBOB", live["text"], live["ts"])
            await session.slack_event(live, "EvLive")
            await session.hearth.relay_worker.drain()
            assert from_slack(tmp_path) == [("Before the outage", None)]

        # Hearth is down: the channel goes on without it (and the relayed one is edited)
        edited = api.find("C1", "1800000500.000001")
        assert edited is not None
        edited["text"] = "Before the outage, edited"
        missed = [f"Missed {n}" for n in range(1, 6)]
        for n, text in enumerate(missed, start=1):
            api.add_message("C1", "UBOB", text, f"1800001000.00000{n}")
        root = api.find("C1", "1800001000.000003")
        assert root is not None
        root.update(thread_ts=root["ts"], reply_count=1, latest_reply="1800001001.000001")
        api.add_message(
            "C1", "USTEVE", "A reply meanwhile", "1800001001.000001", thread_ts=root["ts"]
        )
        api.add_message(
            "C1", "USTEVE", "<@USTEVE> has joined", "1800001002.000001", subtype="channel_join"
        )
        api.page_cap = 2  # Hearth pages through the history

        async with running(database_url, tmp_path, api) as session:
            await session.caught_up()
            got = from_slack(tmp_path)
            assert [text for text, _ in got] == [
                "Before the outage, edited",
                *missed,
                "A reply meanwhile",
            ]
            ids = {m["text"]: m["id"] for m in in_channel(tmp_path, "general")}
            assert got[-1][1] == ids["Missed 3"]  # the reply is in the missed root's thread
            pages = [c for c in api.named("conversations.history") if "oldest" in c.params]
            assert len(pages) > 1

        # a third start, as after a kill -9 before the position was saved: it reads the
        # channel again from the start of the window, and relays nothing twice
        await forget_channel_positions(database_url)
        async with running(database_url, tmp_path, api) as session:
            await session.caught_up()
            assert len(from_slack(tmp_path)) == len(got)
    finally:
        await api.close()
