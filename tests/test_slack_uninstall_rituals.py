"""A Slack workspace that uninstalls Hearth holds its rituals: nothing opens, nothing is
retried, the steward is told, and a reinstall resumes them. Through bolt's real OAuth
flow, signed requests and the loopback Web API; time moves on the ManualClock only.

The Mill lives in two workspaces (Beta's #yard, Acme's #general), so its steward still
sees the Mill's rituals from Beta while Acme is away.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from knowledge.clock import ManualClock
from tests.fakes.slack_loopback import JSON, Answer, event_body, send
from tests.harness.config_builder import Channel, Community
from tests.test_slack_oauth import ACME, BETA, World, open_world

MILL = Community(
    "mill",
    "The Mill",
    (Channel("slack", BETA.team_id, "CYARD"), Channel("slack", ACME.team_id, "CGEN")),
    ("slack:UANN", "slack:UBEN"),
)


@pytest.fixture
async def world(database_url: str, tmp_path: Path) -> AsyncIterator[World]:
    async with open_world(database_url, tmp_path, MILL) as opened:
        assert "mill" in (await opened.install(ACME)).text
        assert "mill" in (await opened.install(BETA)).text
        yield opened


async def tick(world: World, moment: datetime) -> None:
    clock = world.hearth.services.clock
    assert isinstance(clock, ManualClock)
    clock.set(moment)
    await world.hearth.services.rituals.tick()


def prompts(world: World) -> list[str]:
    """The ritual prompts Hearth posted in Acme's #general (not its thread replies)."""
    said = [m["text"] for m in world.api.messages.get("CGEN", []) if "bot_id" in m]
    return [text for text in said if text.startswith("💭")]


async def uninstall_acme(world: World, event_id: str) -> None:
    world.api.uninstall(ACME.team_id)
    await world.event(ACME, {"type": "app_uninstalled"}, event_id)


async def test_an_uninstalled_workspace_holds_its_rituals_until_it_comes_back(
    world: World,
) -> None:
    await world.command(
        ACME, "CGEN", "UANN", "/ritual add reflection here daily at 13:00 name:daily"
    )
    assert "saved" in await world.command(ACME, "CGEN", "UANN", "/ritual confirm")

    # the first prompt fails once (Slack hiccups), then Acme uninstalls Hearth
    world.api.queue("chat.postMessage", Answer(200, {"ok": False, "error": "internal_error"}))
    await tick(world, datetime(2026, 11, 29, 13, 0, 10, tzinfo=UTC))
    assert prompts(world) == []
    await uninstall_acme(world, "EvGone1")
    with capture_logs() as logs:  # what still arrives from Acme is turned away, and said so
        for n in (1, 2):
            message = {"type": "message", "channel": "CGEN", "user": "UCAT", "text": "hi"}
            body = event_body({**message, "ts": f"1800000900.00000{n}"}, f"EvLate{n}", ACME)
            assert (await send(world.url, body, JSON)).status == 200
    turned_away = [e for e in logs if e["event"] == "slack.workspace_not_installed"]
    assert [e["team"] for e in turned_away] == [ACME.team_id]  # once, not per message

    posts = len(world.api.named("chat.postMessage"))
    with capture_logs() as logs:
        await tick(world, datetime(2026, 11, 29, 13, 5, tzinfo=UTC))  # the retry is due
        await tick(world, datetime(2026, 11, 29, 13, 20, tzinfo=UTC))
    assert len(world.api.named("chat.postMessage")) == posts  # nothing tried
    assert [e["event"] for e in logs if e["event"].startswith("ritual.")] == [
        "ritual.prompt_held",
        "ritual.prompt_held",
    ]
    shown = await world.command(BETA, "CYARD", "UBEN", "/ritual show daily")
    assert "Held: the Slack workspace uninstalled Hearth" in shown
    assert "posting failed 1×" in shown  # the one real failure; the hold counts none
    listed = await world.command(BETA, "CYARD", "UBEN", "/ritual list")
    assert "held: the Slack workspace uninstalled Hearth" in listed
    ran = await world.command(BETA, "CYARD", "UBEN", "/ritual run-now daily")
    assert "daily is held: the Slack workspace uninstalled Hearth" in ran

    assert "mill" in (await world.install(ACME)).text  # back: the held prompt goes now
    await tick(world, datetime(2026, 11, 29, 13, 31, tzinfo=UTC))
    assert len(prompts(world)) == 1
    posted = [c for c in world.api.named("chat.postMessage") if c.params["channel"] == "CGEN"]
    assert posted[-1].token == world.api.token_of(ACME.team_id)
    assert "Held" not in await world.command(BETA, "CYARD", "UBEN", "/ritual show daily")

    # away again over the next day's slot: no round is opened, nothing piles up
    await uninstall_acme(world, "EvGone2")
    with capture_logs() as logs:
        for hour in (13, 14, 15):
            await tick(world, datetime(2026, 11, 30, hour, 0, 10, tzinfo=UTC))
    held = [e for e in logs if e["event"] == "ritual.held"]
    assert held and all(e["slot"] == "2026-11-30T13:00:00+00:00" for e in held)
    assert len(prompts(world)) == 1

    await world.install(ACME)  # back after the grace period: that slot was missed, once
    await tick(world, datetime(2026, 11, 30, 20, 0, tzinfo=UTC))
    assert len(prompts(world)) == 1
    shown = await world.command(BETA, "CYARD", "UBEN", "/ritual show daily")
    assert "2026-11-30 13:00 UTC: missed" in shown and "1 missed while offline" in shown
    assert "2026-11-29 13:00 UTC: open" in shown  # and no other round: none piled up
    assert shown.count(" UTC: ") == 2 * 2  # two rounds (text and blocks say them both)
    await tick(world, datetime(2026, 12, 1, 13, 0, 10, tzinfo=UTC))  # the next slot runs
    assert len(prompts(world)) == 2

    # a prompt waiting for its retry while the workspace stays away past the grace period
    # is missed, once, instead of being posted a day late
    world.api.queue("chat.postMessage", Answer(200, {"ok": False, "error": "internal_error"}))
    await tick(world, datetime(2026, 12, 2, 13, 0, 10, tzinfo=UTC))
    await uninstall_acme(world, "EvGone3")
    for hour in (14, 20, 21):
        await tick(world, datetime(2026, 12, 2, hour, 0, tzinfo=UTC))
    await world.install(ACME)
    await tick(world, datetime(2026, 12, 2, 22, 0, tzinfo=UTC))
    assert len(prompts(world)) == 2
    shown = await world.command(BETA, "CYARD", "UBEN", "/ritual show daily")
    assert "2026-12-02 13:00 UTC: missed" in shown and "2 missed while offline" in shown
