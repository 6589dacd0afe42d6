"""A direct message to Hearth in a Slack workspace that holds two communities: the
question comes with a Block Kit menu, the pick is a signed `block_actions` request into
the running bolt app (acknowledged before it is answered), and the command then runs in
the community picked. Against the loopback Web API, on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from adapters.slack import SlackAdapter
from bot.app import Hearth
from bot.direct import CHOICE_ID
from knowledge.inbound import InboundLog
from tests.fakes.slack_loopback import (
    FORM,
    TEAM,
    LoopbackSlack,
    command_body,
    interactive_body,
    send,
)
from tests.harness.config_builder import Channel, Community, build_config
from tests.test_slack_adapter import Env, slack_config

DM = "D0ANN"


@pytest.fixture
async def slack(database_url: str, tmp_path: Path) -> AsyncIterator[Env]:
    """The Guild in #general (C1) and the Forge in #forge (C2) of one workspace."""
    api = LoopbackSlack()
    await api.start()
    api.add_user("UANN", "ann")
    config = build_config(
        database_url,
        tmp_path,
        Community("guild", "The Guild", (Channel("slack", TEAM, "C1"),)),
        Community("forge", "The Forge", (Channel("slack", TEAM, "C2"),)),
        console_user=None,
    )
    hearth = await Hearth.open(config)
    adapter = SlackAdapter(slack_config(api), InboundLog(hearth.database))
    env = Env(hearth, adapter, api)
    await adapter.connect()
    await adapter.start(hearth.inbound)
    try:
        yield env
    finally:
        await adapter.stop()
        await hearth.close()
        await api.close()


async def command(env: Env, channel: str, line: str, trigger: str) -> dict[str, Any]:
    """Ann's signed slash command; the body Slack got on its response_url."""
    name, _, rest = line.partition(" ")
    url = env.api.response_url(trigger)
    body = command_body(name, rest, "UANN", url, channel=channel, trigger=trigger)
    count = len(env.api.responses)
    sent = await send(env.url, body, FORM)
    assert sent.status == 200, sent.text
    await env.api.wait_for(lambda: len(env.api.responses) > count)
    return env.api.responses[-1]


def pick(value: str, response_url: str = "http://127.0.0.1:1/unused", channel: str = DM) -> str:
    """The `block_actions` payload Slack sends when Ann picks `value` from the menu."""
    payload = {
        "type": "block_actions",
        "token": "legacy",
        "api_app_id": "A1",
        "team": {"id": TEAM, "domain": "hearth-test"},
        "user": {"id": "UANN", "team_id": TEAM},
        "channel": {"id": channel, "name": "directmessage"},
        "container": {"type": "message", "channel_id": channel, "is_ephemeral": True},
        "trigger_id": "trig-pick",
        "response_url": response_url,
        "actions": [
            {
                "type": "static_select",
                "action_id": CHOICE_ID,
                "block_id": "pick",
                "selected_option": {"text": {"type": "plain_text", "text": value}, "value": value},
                "action_ts": "1700000000.000001",
            }
        ],
    }
    return interactive_body(payload)


async def test_a_dm_picks_its_community_from_the_menu_and_then_runs_commands_there(
    slack: Env,
) -> None:
    asked = await command(slack, DM, "/insight Oil the hinges weekly #upkeep", "t1")
    assert asked["response_type"] == "ephemeral"
    assert "We share several communities" in asked["text"]
    (menu,) = [e for b in asked["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert menu["type"] == "static_select" and menu["action_id"] == CHOICE_ID
    shown = [(o["text"]["text"], o["value"]) for o in menu["options"]]
    assert shown == [("The Forge", "forge"), ("The Guild", "guild")]

    # Slack wants the ack within 3 s: it comes while the answer is still held back
    slack.api.hold_responses = asyncio.Event()
    body = pick(shown[0][1], slack.api.response_url("p1"))
    count = len(slack.api.responses)
    sent = await asyncio.wait_for(send(slack.url, body, FORM), 60)  # a hang guard
    assert sent.status == 200 and len(slack.api.responses) == count
    slack.api.hold_responses.set()
    await slack.api.wait_for(lambda: len(slack.api.responses) > count)
    chosen = slack.api.responses[-1]
    assert chosen["response_type"] == "ephemeral" and chosen["replace_original"] is True
    assert "Our direct messages now belong to *The Forge*" in chosen["text"]
    assert not [b for b in chosen["blocks"] if b["type"] == "actions"]  # the menu is gone

    captured = await command(slack, DM, "/insight Oil the hinges weekly #upkeep", "t2")
    assert "Captured insight" in captured["text"]
    assert "hinges" in (await command(slack, "C2", "/search hinges", "t3"))["text"]
    assert "No insights match" in (await command(slack, "C1", "/search hinges", "t4"))["text"]


async def test_a_forged_or_unsigned_pick_binds_nothing(slack: Env) -> None:
    unsigned = await send(slack.url, pick("forge"), FORM, secret="not-the-secret")
    assert unsigned.status == 401

    count = len(slack.api.responses)
    body = pick("smithy", slack.api.response_url("p2"))
    assert (await send(slack.url, body, FORM)).status == 200
    await slack.api.wait_for(lambda: len(slack.api.responses) > count)
    assert slack.api.responses[-1]["text"] == (
        "You are not in a community by that name with me, so I cannot bind our direct "
        "messages to it."
    )
    asked = await command(slack, DM, "/search hinges", "t5")  # still unbound: asked again
    assert "We share several communities" in asked["text"]
    assert json.dumps(asked).count(CHOICE_ID) == 1
