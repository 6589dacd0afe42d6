"""A joint ritual across three platforms: the Guild on the console (Berlin), the Forge on
Slack (New York, the loopback Web API and signed requests), the Mill on a real Synapse
(Tokyo). Each community gets the prompt in its own channel at its own hour, replies stay
where they were written, and at the close each gets one constellation synthesis that
quotes only members who opted in, linking a quote only for its own community.

Waiting is on each adapter's own reports (handled events, Slack's recorded calls), never
on sleeps; time is a ManualClock stepped over the round.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from adapters.console.adapter import ConsoleAdapter
from bot.adapter import Adapter
from bot.app import Hearth
from knowledge.clock import ManualClock
from tests.fakes.slack_loopback import FORM, TEAM, LoopbackSlack, command_body, send
from tests.fakes.synapse_server import MatrixUser, SynapseServer, in_thread, synapse  # noqa: F401
from tests.harness.config_builder import Channel, Community, build_config
from tests.test_relay_matrix import WAIT, SlackSide, World, messages, person, room_with

BERLIN = ZoneInfo("Europe/Berlin")
NINE = datetime(2026, 11, 30, 9, 0, tzinfo=BERLIN)  # the joint slot, Monday
FORGE_17 = datetime(2026, 11, 30, 17, 0, tzinfo=ZoneInfo("America/New_York"))
CLOSE = NINE + timedelta(days=2)
SYNTHESIS = "🌌 Constellation synthesis"


@dataclass
class ConsoleSide:
    """The console adapter, fed line by line; `say` returns what it printed meanwhile."""

    settings: Any
    out: io.StringIO = field(default_factory=io.StringIO)
    lines: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)
    handled: asyncio.Queue[None] = field(default_factory=asyncio.Queue)
    first: bool = True

    def make(self, hearth: Hearth) -> Adapter:
        async def read_line() -> str | None:
            if not self.first:
                self.handled.put_nowait(None)  # the previous line is fully handled
            self.first = False
            return await self.lines.get()

        return ConsoleAdapter(self.settings.adapters.console, read_line, self.out)

    async def say(self, *lines: str) -> str:
        start = len(self.out.getvalue())
        for text in lines:
            await self.lines.put(text)
            await asyncio.wait_for(self.handled.get(), WAIT)
        return self.out.getvalue()[start:]

    def transcript(self, tmp_path: Path) -> list[dict[str, Any]]:
        latest: dict[int, dict[str, Any]] = {}
        for raw in (tmp_path / "console.jsonl").read_text().splitlines():
            record = json.loads(raw)
            latest[record["id"]] = record
        return [m for m in latest.values() if m["kind"] == "message" and not m["deleted"]]


@dataclass
class Three:
    world: World  # the Mill's Matrix room, and Hearth
    slack: SlackSide  # the Forge
    console: ConsoleSide  # the Guild
    mo: MatrixUser  # the Mill's steward (created the room)
    mia: MatrixUser  # opted in to quotes
    max: MatrixUser  # did not

    async def slash(
        self, user: str, text: str, trigger: str, command: str = "/constellation"
    ) -> str:
        api = self.slack.api
        body = command_body(command, text, user, api.response_url(trigger), trigger=trigger)
        count = len(api.responses)
        assert (await send(self.slack.url, body, FORM)).status == 200
        await api.wait_for(lambda: len(api.responses) > count)
        return str(api.responses[-1])

    async def tick(self, moment: datetime) -> None:
        self.world.clock.set(moment)
        assert self.world.hearth is not None
        await self.world.hearth.services.rituals.tick()


@pytest.fixture
async def three(
    synapse: SynapseServer,  # noqa: F811
    database_url: str,
    tmp_path: Path,
) -> AsyncIterator[Three]:
    api = LoopbackSlack()
    await api.start()
    for user, name in (("USTEVE", "steve"), ("UBOB", "bob"), ("UERIN", "erin")):
        api.add_user(user, name)
    bot = synapse.register("hearth")
    mo, mia, max_ = person(synapse, "Mo"), person(synapse, "Mia"), person(synapse, "Max")
    room = room_with(synapse, mo, bot, mia, max_)
    guild = Community(
        "guild",
        "The Guild",
        (Channel("console", "local", "general"),),
        ("console:steve",),
        timezone="Europe/Berlin",
    )
    forge = Community(
        "forge",
        "The Forge",
        (Channel("slack", TEAM, "C1"),),
        ("slack:USTEVE",),
        timezone="America/New_York",
    )
    mill = Community(
        "mill", "The Mill", (Channel("matrix", "hearth.test", room.room_id),), timezone="Asia/Tokyo"
    )
    settings = build_config(database_url, tmp_path, guild, forge, mill)
    slack = SlackSide(api)
    console = ConsoleSide(settings)
    clock = ManualClock(NINE - timedelta(hours=2))
    world = World(synapse, settings, clock, bot, mo, mia, room, extra=[slack.make, console.make])
    try:
        await world.start()
        await asyncio.wait_for(api.wait_calls("auth.test"), WAIT)
        await console.say(":as steve")
        yield Three(world, slack, console, mo, mia, max_)
    finally:
        await console.lines.put(None)
        await world.stop()
        await api.close()


def codes(text: str) -> str:
    return re.findall(r"HL-[A-Z0-9-]+", text)[-1]


async def test_a_joint_reflection_across_console_slack_and_matrix(
    three: Three, tmp_path: Path
) -> None:
    world, slack, console, room = three.world, three.slack, three.console, three.world.a
    # Links: the Guild with the Forge (Slack) and with the Mill (Matrix).
    code = codes(await console.say("/constellation invite for:forge"))
    assert "Linked with *The Guild*" in await three.slash("USTEVE", f"accept {code}", "l1")
    code = codes(await console.say("/constellation invite for:mill"))
    accepted = await world.command(room, three.mo, f"!constellation accept {code}")
    assert "Linked with The Guild" in accepted.replace("*", "")

    # The Guild's steward proposes; both other communities see the proposal.
    await console.say(
        "/ritual add reflection here weekly on monday at 9:00 window:2d name:learning "
        "constellation:all | What did you learn from another team this week?",
    )
    assert "Joint ritual #1" in (await console.say("/ritual confirm")).replace("*", "")
    proposal = "proposes a joint reflection ritual (#1)"
    assert any(proposal in m["text"] for m in slack.posts())
    assert any(
        proposal in e["content"].get("body", "").replace("*", "")
        for e in messages(room, three.mia)
        if e["type"] == "m.room.message"
    )
    # The Forge accepts at 17:00 its time; the Mill at the slot.
    said = await three.slash("USTEVE", "ritual accept 1 time:17:00", "a1")
    assert "takes part in joint ritual #1" in said
    said = await world.command(room, three.mo, "!constellation ritual accept 1")
    assert "takes part in joint ritual #1" in said.replace("*", "")
    # Who may be quoted beyond their community.
    await console.say(":as bob", "/ritual quotes on")
    await three.slash("UBOB", "quotes on", "q1", command="/ritual")
    await world.command(room, three.mia, "!ritual quotes on")

    # Monday 9:00 in Berlin: the Guild and the Mill get the prompt, the Forge not yet.
    await three.tick(NINE)
    assert not [m for m in slack.posts() if prompted(m["text"])]
    general = [m for m in console.transcript(tmp_path) if prompted(m["text"])]
    assert len(general) == 1
    await world.until(lambda: any(prompted(e["content"].get("body", "")) for e in bot_posts(three)))
    matrix_prompt = next(e for e in bot_posts(three) if prompted(e["content"].get("body", "")))
    await console.say(
        f":reply {general[0]['id']} Pairing made reviews faster #pairing #testing",
        ":as alice",
        f":reply {general[0]['id']} Our staging is broken again",
    )
    said_mia = room.say(
        three.mia, "Checklists made reviews faster #testing", **in_thread(matrix_prompt["event_id"])
    )
    said_max = room.say(three.max, "Nobody reads our docs", **in_thread(matrix_prompt["event_id"]))
    await world.wait(said_mia, said_max)

    # 17:00 in New York: the Forge's prompt, in Slack; replies in its thread.
    await three.tick(FORGE_17)
    slack_prompt = next(m for m in slack.posts() if prompted(m["text"]))
    for user, text, event_id in (
        ("UBOB", "Pairing with QA found bugs early #pairing", "Ev1"),
        ("UERIN", "Our deploys scare me", "Ev2"),
    ):
        await slack.event(
            {
                "type": "message",
                "user": user,
                "text": text,
                "ts": f"1800000000.00{event_id[-1]}",
                "channel": "C1",
                "thread_ts": slack_prompt["ts"],
            },
            event_id,
        )

    # Wednesday 9:00 in Berlin: the window closes everywhere at once.
    await three.tick(CLOSE)
    await three.tick(CLOSE + timedelta(minutes=5))  # nothing is posted twice
    in_console = [
        m["text"] for m in console.transcript(tmp_path) if m["text"].startswith(SYNTHESIS)
    ]
    in_slack = [m["text"] for m in slack.posts() if SYNTHESIS in m["text"]]
    await world.until(
        lambda: any(SYNTHESIS in e["content"].get("body", "") for e in bot_posts(three))
    )
    in_matrix = [
        e["content"]["body"] for e in bot_posts(three) if SYNTHESIS in e["content"].get("body", "")
    ]
    assert len(in_console) == len(in_slack) == len(in_matrix) == 1
    text = in_console[0]
    for taking_part in (
        "The Forge: 2 member(s), 2 response(s)",
        "The Guild: 2 member(s), 2 response(s)",
        "The Mill: 2 member(s), 2 response(s)",
    ):
        assert taking_part in text
    assert "#pairing (The Forge, The Guild)" in text and "#testing (The Guild, The Mill)" in text
    for synthesis in (text, in_slack[0], in_matrix[0]):
        for quoted in ("Pairing made reviews faster", "Pairing with QA", "Checklists made"):
            assert quoted in synthesis.replace("*", "")
        for private in ("staging is broken", "deploys scare", "reads our docs"):
            assert private not in synthesis
    # a quote links to its source only in its own community
    assert "matrix.to" in line_of(in_matrix[0], "Checklists") and "matrix.to" not in text
    assert "slack.com" in line_of(in_slack[0], "Pairing with QA")
    assert "console://" in line_of(text, "Pairing made reviews")
    assert "console://" not in in_slack[0] and "console://" not in in_matrix[0]


def bot_posts(three: Three) -> list[dict[str, Any]]:
    return [
        e
        for e in messages(three.world.a, three.mia)
        if e["type"] == "m.room.message" and e["sender"] == three.world.bot.user_id
    ]


def prompted(text: str) -> bool:
    return text.startswith("💭 What did you learn from another team this week?")


def line_of(text: str, words: str) -> str:
    return next(x for x in text.splitlines() if words in x)


async def test_a_slack_decline_and_a_matrix_leave_stop_their_parts_at_once(
    three: Three, tmp_path: Path
) -> None:
    world, slack, console, room = three.world, three.slack, three.console, three.world.a
    code = codes(await console.say("/constellation invite for:forge"))
    await three.slash("USTEVE", f"accept {code}", "l1")
    code = codes(await console.say("/constellation invite for:mill"))
    await world.command(room, three.mo, f"!constellation accept {code}")
    await console.say(
        "/ritual add checkin here daily at 9:00 window:12h name:daily constellation:all "
        "| What did you learn today?",
        "/ritual confirm",
    )
    await three.slash("USTEVE", "ritual accept 1", "a1")
    await world.command(room, three.mo, "!constellation ritual accept 1")
    await three.slash("UBOB", "quotes on", "q1", command="/ritual")
    await world.command(room, three.mia, "!ritual quotes on")

    await three.tick(NINE)  # all three prompts
    slack_prompt = next(m for m in slack.posts() if m["text"].startswith("👋 What did you"))
    await world.until(lambda: any(is_checkin(e) for e in bot_posts(three)))
    matrix_prompt = next(e for e in bot_posts(three) if is_checkin(e))
    await slack.event(
        {
            "type": "message",
            "user": "UBOB",
            "text": "Forge words that must stay home",
            "ts": "1800000000.000009",
            "channel": "C1",
            "thread_ts": slack_prompt["ts"],
        },
        "EvF",
    )
    said = room.say(
        three.mia, "Mill words that must stay home", **in_thread(matrix_prompt["event_id"])
    )
    await world.wait(said)
    # The Forge declines mid-round; the Mill leaves its link with the Guild.
    assert "does not take part" in await three.slash("USTEVE", "ritual decline 1", "d1")
    left = await world.command(room, three.mo, "!constellation leave guild")
    assert "1 joint ritual part(s) between you have ended" in left

    slack_before = len(slack.posts())
    matrix_before = len(bot_posts(three))
    await three.tick(NINE + timedelta(hours=12))  # the close
    await three.tick(NINE + timedelta(days=1))  # the next day's slot
    await three.tick(NINE + timedelta(days=1, hours=12))
    in_console = [
        m["text"] for m in console.transcript(tmp_path) if m["text"].startswith(SYNTHESIS)
    ]
    assert len(in_console) == 2 and all("from 1 communities" in t for t in in_console)
    assert all("Forge" not in t and "Mill" not in t for t in in_console)
    # Slack: only the Forge's own close of the round it had started; nothing joint after.
    later_slack = [m["text"] for m in slack.posts()[slack_before:]]
    assert not [t for t in later_slack if SYNTHESIS in t or "What did you learn" in t]
    assert all("🧭 daily: round closed" in t for t in later_slack)
    later_matrix = [e["content"]["body"] for e in bot_posts(three)[matrix_before:]]
    assert not [b for b in later_matrix if SYNTHESIS in b or "What did you learn" in b]


def is_checkin(event: dict[str, Any]) -> bool:
    return str(event["content"].get("body", "")).startswith("👋 What did you learn today?")
