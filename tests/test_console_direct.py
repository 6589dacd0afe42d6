"""Direct messages on the console with several communities: asked which, then bound."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from knowledge.clock import ManualClock
from tests.harness.config_builder import FORGE
from tests.harness.console_harness import MONDAY_8, at, make_config, run_script


async def test_with_two_communities_a_console_dm_asks_which_and_then_answers_the_ritual(
    database_url: str, tmp_path: Path
) -> None:
    clock = ManualClock(MONDAY_8)
    nine = MONDAY_8 + timedelta(hours=1)
    output = await run_script(
        make_config(database_url, tmp_path, others=(FORGE,)),
        [
            ":as cora",
            "/ritual add checkin here weekly on monday at 9:00 name:pulse anonymous:yes window:1d",
            "/ritual confirm",
            at(clock, nine),
            ":as alice",
            ":dm /ritual answer pulse I feel overloaded",
            ":dm community:nowhere",
            ":dm community:guild /ritual answer pulse I feel overloaded",
            ":dm /ritual answer pulse Still overloaded",
        ],
        clock,
    )
    assert "not part of a Hearth community" not in output
    assert "We share several communities: The Forge, The Guild" in output
    assert "Type :dm community:forge or :dm community:guild" in output
    assert "You are not in a community by that name with me" in output
    assert "Our direct messages now belong to The Guild" in output
    assert "🙈 Anonymous response: I feel overloaded" in output
    assert "🙈 Anonymous response: Still overloaded" in output
