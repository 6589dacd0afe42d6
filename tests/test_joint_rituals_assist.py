"""A joint round's constellation synthesis gets a model's narrative only when every
community taking part opted in to assist; otherwise no word of theirs goes to the model
for it."""

# ruff: noqa: F811
from __future__ import annotations

import dataclasses
import io
from pathlib import Path

from knowledge.clock import ManualClock
from tests.fakes.openai_loopback import OpenAILoopback, openai_server, reply  # noqa: F401
from tests.harness.config_builder import FORGE, GUILD, MILL, build_config
from tests.harness.console_harness import Step, run_script
from tests.test_assist_model import model_for
from tests.test_joint_rituals_console import (
    CLOSE,
    MONDAY_8,
    NINE,
    at,
    line,
    prompt_id,
    setup,
    syntheses,
)

STORY = "Across the three communities, pairing and review speed came up again and again."


def steps(out: io.StringIO, clock: ManualClock, tmp_path: Path) -> list[Step]:
    return [
        *setup(out, forge_time=""),
        at(clock, NINE),
        ":as bob",
        line(lambda: f":reply {prompt_id(out, 'general', tmp_path)} Pairing made reviews fast"),
        ":as dana",
        ":channel hall",
        line(lambda: f":reply {prompt_id(out, 'hall', tmp_path)} Pairing with QA helps"),
        ":as mia",
        ":channel yard",
        line(lambda: f":reply {prompt_id(out, 'yard', tmp_path)} Checklists speed reviews"),
        ":channel general",
        at(clock, CLOSE),
    ]


async def test_every_community_opted_in_gets_a_narrative(
    database_url: str, tmp_path: Path, openai_server: OpenAILoopback
) -> None:
    opted = [dataclasses.replace(c, extra="assist = true") for c in (GUILD, FORGE, MILL)]
    opted[1] = dataclasses.replace(opted[1], timezone="America/New_York")
    config = build_config(database_url, tmp_path, *opted)
    openai_server.script(*(reply("One community's story.") for _ in range(3)))
    openai_server.script(*(reply(STORY) for _ in range(3)))
    clock = ManualClock(MONDAY_8)
    out = io.StringIO()
    await run_script(
        config, steps(out, clock, tmp_path), clock, model=model_for(openai_server), out=out
    )
    for channel in ("general", "hall", "yard"):
        (text,) = syntheses(tmp_path, channel)
        assert text.splitlines()[1] == STORY
    sent = openai_server.bodies()[-1]["messages"][1]["content"]
    assert "- Checklists speed reviews" in sent and "- Pairing with QA helps" in sent
    assert "bob" not in sent and "dana" not in sent and "Mill" not in sent


async def test_one_community_not_opted_in_means_no_narrative_and_nothing_sent(
    database_url: str, tmp_path: Path, openai_server: OpenAILoopback
) -> None:
    guild, forge = (dataclasses.replace(c, extra="assist = true") for c in (GUILD, FORGE))
    config = build_config(database_url, tmp_path, guild, forge, MILL)
    clock = ManualClock(MONDAY_8)
    out = io.StringIO()
    await run_script(
        config, steps(out, clock, tmp_path), clock, model=model_for(openai_server), out=out
    )
    (text,) = syntheses(tmp_path, "general")
    assert text.splitlines()[1].startswith("Taking part: ")
    sent = [str(body["messages"]) for body in openai_server.bodies()]
    assert len(sent) == 2  # the guild's and the forge's own syntheses only
    assert not [s for s in sent if "Checklists" in s]
