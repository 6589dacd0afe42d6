"""Joint rituals between three communities in three time zones, on the console: proposal,
accept and decline, each community's prompt at its own hour, replies kept local, the
constellation synthesis once per community, quotes only with consent, and nothing of a
community that left."""

from __future__ import annotations

import dataclasses
import io
import json
import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.app import Hearth
from knowledge.clock import ManualClock
from tests.harness.config_builder import FORGE, GUILD, MILL, build_config
from tests.harness.console_harness import Step, run_script

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY_8 = datetime(2026, 11, 30, 8, 0, tzinfo=BERLIN)
NINE = MONDAY_8 + timedelta(hours=1)  # the joint slot: Monday 9:00 in Berlin (08:00 UTC)
FORGE_17 = datetime(2026, 11, 30, 17, 0, tzinfo=ZoneInfo("America/New_York"))  # 22:00 UTC
CLOSE = NINE + timedelta(days=2)
SYNTHESIS = "🌌 Constellation synthesis"


def config(database_url: str, tmp_path: Path) -> Any:
    forge = dataclasses.replace(FORGE, timezone="America/New_York")
    mill = dataclasses.replace(MILL, timezone="Asia/Tokyo")
    return build_config(database_url, tmp_path, GUILD, forge, mill)


def at(clock: ManualClock, moment: datetime) -> Callable[[Hearth], Awaitable[None]]:
    async def step(hearth: Hearth) -> None:
        clock.set(moment)
        await hearth.services.rituals.tick()

    return step


def line(build: Callable[[], str]) -> Step:
    async def step(_: Hearth) -> str:
        return build()

    return step


def last_code(out: io.StringIO) -> str:
    return re.findall(r"HL-[A-Z0-9-]+", out.getvalue())[-1]


def prompt_id(out: io.StringIO, channel: str, tmp_path: Path) -> str:
    """The id of the joint prompt posted in a channel (read from the transcript)."""
    found = [m for m in messages(tmp_path, channel) if m["text"].startswith("💭 ")]
    assert found, f"no prompt in #{channel}"
    return str(found[-1]["id"])


def messages(tmp_path: Path, channel: str) -> list[dict[str, Any]]:
    latest: dict[int, dict[str, Any]] = {}
    for raw in (tmp_path / "console.jsonl").read_text().splitlines():
        record = json.loads(raw)
        latest[record["id"]] = record
    return [
        m
        for m in latest.values()
        if m["kind"] == "message" and m["channel"] == channel and not m["deleted"]
    ]


def syntheses(tmp_path: Path, channel: str) -> list[str]:
    return [m["text"] for m in messages(tmp_path, channel) if m["text"].startswith(SYNTHESIS)]


def setup(out: io.StringIO, *, forge_time: str = " time:17:00") -> list[Step]:
    """The guild links with the forge and the mill, proposes a weekly joint reflection to
    both; the forge accepts at 17:00 its time, the mill at the slot."""
    return [
        ":as steve",
        "/constellation invite",
        ":as fran",
        ":channel hall",
        line(lambda: f"/constellation accept {last_code(out)}"),
        ":channel general",
        ":as steve",
        "/constellation invite",
        ":as milo",
        ":channel yard",
        line(lambda: f"/constellation accept {last_code(out)}"),
        ":channel general",
        ":as cora",  # a curator, not a steward
        "/ritual add reflection here weekly on monday at 9:00 window:2d constellation:all "
        "| What did you learn from another team this week?",
        ":as steve",
        "/ritual add reflection here weekly on monday at 9:00 window:2d name:learning "
        "constellation:all | What did you learn from another team this week?",
        "/ritual confirm",
        ":as fran",
        ":channel hall",
        "/constellation ritual list",
        f"/constellation ritual accept 1{forge_time}",
        ":as milo",
        ":channel yard",
        "/constellation ritual accept 1",
        ":channel general",
    ]


async def test_three_communities_reflect_together_and_each_gets_one_constellation_synthesis(
    database_url: str, tmp_path: Path
) -> None:
    clock = ManualClock(MONDAY_8)
    out = io.StringIO()
    steps: list[Step] = [
        *setup(out),
        ":as bob",
        "/ritual quotes on",
        ":as dana",
        ":channel hall",
        "/ritual quotes on",
        ":channel general",
        at(clock, NINE),
        ":as alice",
        line(
            lambda: (
                f":reply {prompt_id(out, 'general', tmp_path)} I learned to write the "
                "test first #testing"
            )
        ),
        ":as bob",
        line(
            lambda: (
                f":reply {prompt_id(out, 'general', tmp_path)} Pairing made reviews "
                "faster #pairing #testing"
            )
        ),
        ":as mia",
        ":channel yard",
        line(
            lambda: (
                f":reply {prompt_id(out, 'yard', tmp_path)} Checklists made reviews faster #testing"
            )
        ),
        ":channel general",
        at(clock, FORGE_17),
        ":as dana",
        ":channel hall",
        line(
            lambda: (
                f":reply {prompt_id(out, 'hall', tmp_path)} Pairing with QA found "
                "bugs early #pairing"
            )
        ),
        ":as erin",
        line(lambda: f":reply {prompt_id(out, 'hall', tmp_path)} Our deploys scare me"),
        ":channel general",
        ":as cora",
        line(lambda: f":react {bob_reply(tmp_path)} 💡"),
        at(clock, CLOSE),
        at(clock, CLOSE + timedelta(minutes=5)),  # again: nothing posted twice
        "/search round:1",
        ":as steve",
        "/constellation pulse",
    ]
    await run_script(config(database_url, tmp_path), steps, clock, out=out)
    printed = out.getvalue()

    assert "Only stewards can propose joint rituals" in printed
    assert "The Guild proposes a joint reflection ritual (#1)" in printed.replace("*", "")
    assert "Joint ritual #1 learning proposed" in printed.replace("*", "")
    assert "#1 learning (reflection) by The Guild" in printed.replace("*", "")
    assert "takes part in joint ritual #1 as learning in #hall" in printed.replace("*", "")

    question = "What did you learn from another team this week?"
    for channel in ("general", "hall", "yard"):
        prompts = [m for m in messages(tmp_path, channel) if m["text"].startswith("💭 ")]
        assert [question in p["text"] for p in prompts] == [True], channel
    hall_prompt = next(m for m in messages(tmp_path, "hall") if m["text"].startswith("💭 "))
    general_prompt = next(m for m in messages(tmp_path, "general") if m["text"].startswith("💭 "))
    assert hall_prompt["at"] > general_prompt["at"]  # posted at the forge's own 17:00

    # Replies stay where they were written: nothing relayed.
    assert not [m for m in messages(tmp_path, "hall") if "Checklists" in m["text"]]

    general, hall, yard = (syntheses(tmp_path, c) for c in ("general", "hall", "yard"))
    assert len(general) == len(hall) == len(yard) == 1
    text = general[0]
    assert "3 communities" in text
    assert "The Forge: 2 member(s), 2 response(s)" in text
    assert "The Guild: 2 member(s), 2 response(s)" in text
    assert "The Mill: 1 member(s), 1 response(s)" in text
    assert "#testing (The Guild, The Mill)" in text
    assert "#pairing (The Forge, The Guild)" in text
    # quotes: bob and dana opted in; alice, mia and erin did not
    assert "Pairing made reviews faster" in text and "Pairing with QA" in text
    for private in ("write the test first", "Checklists", "deploys scare"):
        assert all(private not in s for s in (*general, *hall, *yard)), private
    # each quote links to its source only in its own community
    bob_line = next(x for x in text.splitlines() if "Pairing made reviews" in x)
    assert "console://" in bob_line
    hall_text = hall[0]
    assert "console://" not in next(x for x in hall_text.splitlines() if "Pairing made" in x)
    assert "console://" in next(x for x in hall_text.splitlines() if "Pairing with QA" in x)

    assert "Insights from joint round 1" in printed
    assert re.search(
        r"The Guild\n\s*• #\d+ Pairing made reviews faster #pairing #testing — bob", printed
    )
    pulse = printed[printed.index("Constellation pulse") :]
    assert re.search(r"The Guild\s+1\s+0\s+0\s+1\s+1 \(100%\)\s+2", pulse)
    assert re.search(r"The Forge\s+0\s+0\s+0\s+1\s+1 \(100%\)\s+2", pulse)


def bob_reply(tmp_path: Path) -> str:
    found = [m for m in messages(tmp_path, "general") if m["text"].startswith("Pairing made")]
    return str(found[-1]["id"])


async def test_a_community_that_declines_or_leaves_gets_nothing_and_gives_nothing(
    database_url: str, tmp_path: Path
) -> None:
    clock = ManualClock(MONDAY_8)
    out = io.StringIO()
    steps: list[Step] = [
        *setup(out, forge_time=""),
        ":as fran",
        ":channel hall",
        "/constellation ritual accept 99",
        "/constellation ritual accept 1 time:25:00",
        "/constellation ritual accept",
        ":as steve",
        ":channel general",
        "/ritual add reflection here daily at 9:00 constellation:nowhere",
        "/ritual edit learning daily at 10:00",
        "/constellation ritual decline 1",
        ":as dana",
        ":channel hall",
        "/constellation ritual accept 1",
        "/ritual quotes on",
        ":as mia",
        ":channel yard",
        "/ritual quotes on",
        ":channel general",
        at(clock, NINE),
        ":as dana",
        ":channel hall",
        line(lambda: f":reply {prompt_id(out, 'hall', tmp_path)} The forge learned pairing"),
        ":as mia",
        ":channel yard",
        line(lambda: f":reply {prompt_id(out, 'yard', tmp_path)} The mill learned checklists"),
        ":as milo",
        "/constellation ritual decline 1",  # the mill steps out mid-round
        ":as steve",
        ":channel general",
        "/constellation leave forge",  # and the guild leaves its link with the forge
        at(clock, CLOSE),
        at(clock, NINE + timedelta(days=7)),  # next week: only the guild's own round
        at(clock, NINE + timedelta(days=9)),
        "/constellation ritual list",
    ]
    await run_script(config(database_url, tmp_path), steps, clock, out=out)
    printed = out.getvalue()
    for sentence in (
        "No joint ritual #99 was proposed to this community.",
        "time: is an hour like 17:00 (got '25:00').",
        "Name the joint ritual: /constellation ritual accept <id>",
        "constellation: names linked communities (forge, mill) or all; not linked: nowhere.",
        "This community proposed that joint ritual",
        "Only stewards can accept joint rituals",
        "1 joint ritual part(s) between you have ended.",
        "learning is part of joint ritual #1: its schedule and window are the same",
        "The Guild accepted, The Forge left, The Mill declined",
    ):
        assert sentence in printed, sentence
    assert "Traceback" not in printed

    general = syntheses(tmp_path, "general")
    assert len(general) == 2  # both weeks, the guild alone
    assert all("from 1 communities" in s for s in general)
    assert all("forge" not in s.lower() and "mill" not in s.lower() for s in general)
    assert syntheses(tmp_path, "hall") == [] and syntheses(tmp_path, "yard") == []
    for channel in ("hall", "yard"):
        prompts = [m for m in messages(tmp_path, channel) if m["text"].startswith("💭 ")]
        assert len(prompts) == 1, channel  # the first week only: nothing after leaving
