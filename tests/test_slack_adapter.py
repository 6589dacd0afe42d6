"""The Slack adapter end to end: signed HTTP requests into the running Bolt app on
127.0.0.1, and a loopback Slack Web API recording what the adapter calls."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from adapters.slack import SlackAdapter, SlackConfig, build_manifest, manifest_yaml
from adapters.slack.config import inline_secrets
from adapters.slack.text import message_payload, to_mrkdwn, to_plain
from bot.app import Hearth
from bot.events import ChannelRef, MessageRef
from bot.port import Forbidden, OutboundMessage, RateLimited, TargetGone
from knowledge.inbound import InboundLog
from knowledge.vocabulary import Role
from tests.fakes.slack_loopback import (
    FORM,
    JSON,
    SECRET,
    TEAM,
    Answer,
    EventsEndpoint,
    LoopbackSlack,
    command_body,
    event_body,
    interactive_body,
    send,
)
from tests.harness.config_builder import Channel, Community, build_config

C1 = ChannelRef("slack", TEAM, "C1")


@dataclass
class Env(EventsEndpoint):
    hearth: Hearth
    adapter: SlackAdapter
    api: LoopbackSlack
    delivered: dict[str, asyncio.Future[None]] = field(default_factory=dict)

    async def insight_for(self, ts: str) -> Any:
        community = await self.hearth.services.directory.community_by_slug("guild")
        assert community is not None
        return await self.hearth.services.insights.find_by_source(
            community.id, "slack", TEAM, "C1", ts
        )


def hearth_config(database_url: str, tmp_path: Path) -> Any:
    guild = Community("guild", "The Guild", (Channel("slack", TEAM, "C1"),), ("slack:USTEVE",))
    return build_config(database_url, tmp_path, guild, console_user=None)


def slack_config(api: LoopbackSlack, **changes: Any) -> SlackConfig:
    values: dict[str, Any] = {
        "enabled": True,
        "signing_secret": SECRET,
        "bot_token": "xoxb-test",
        "api_url": api.api_url,
        "port": 0,
        "rate_limit_retries": 2,
        "curator_usergroup": "S1",
    }
    return SlackConfig(**(values | changes))


@pytest.fixture
async def slack(database_url: str, tmp_path: Path) -> AsyncIterator[Env]:
    async with slack_env(database_url, tmp_path) as env:
        yield env


@contextlib.asynccontextmanager
async def slack_env(database_url: str, tmp_path: Path, **changes: Any) -> AsyncIterator[Env]:
    """Hearth with the Slack adapter (config `changes` applied) and a loopback Web API."""
    api = LoopbackSlack()
    await api.start()
    api.add_user("UANN", "ann")
    api.add_user("UBOB", "bob")
    hearth = await Hearth.open(hearth_config(database_url, tmp_path))
    adapter = SlackAdapter(slack_config(api, **changes), InboundLog(hearth.database))
    env = Env(hearth, adapter, api)
    adapter.on_delivered = env.done
    await adapter.connect()
    await adapter.start(hearth.inbound)
    try:
        yield env
    finally:
        await adapter.stop()
        await hearth.close()
        await api.close()


async def command(env: Env, name: str, text: str, user: str = "UANN", trigger: str = "t1") -> Any:
    body = command_body(name, text, user, env.api.response_url(trigger), trigger=trigger)
    count = len(env.api.responses)
    sent = await send(env.url, body, FORM)
    assert sent.status == 200, sent.text
    await env.api.wait_for(lambda: len(env.api.responses) > count)
    return env.api.responses[-1]


# slash commands ----------------------------------------------------------------------


async def test_slash_insight_then_search_and_tags(slack: Env) -> None:
    body = command_body(
        "/insight",
        "Small PRs get better reviews #review",
        "UANN",
        slack.api.response_url("a"),
        trigger="t-a",
    )
    # Slack wants the ack within 3 s, whatever the command costs: the ack must come
    # while the command's reply is still held back, never after it.
    slack.api.hold_responses = asyncio.Event()
    sent = await asyncio.wait_for(send(slack.url, body, FORM), 60)  # a hang guard
    assert sent.status == 200 and not slack.api.responses
    slack.api.hold_responses.set()
    await slack.api.wait_for(lambda: bool(slack.api.responses))
    captured = slack.api.responses[-1]
    assert captured["response_type"] == "in_channel"
    assert "Captured insight #1 from ann" in captured["text"]
    assert captured["blocks"][0]["type"] == "section"

    found = await command(slack, "/search", "reviews", trigger="t-b")
    assert "Small PRs" in found["text"]
    tags = await command(slack, "/tags", "", trigger="t-c")
    assert tags["response_type"] == "ephemeral" and "review" in tags["text"]


async def test_unknown_command_and_escaping(slack: Env) -> None:
    reply = await command(slack, "/insight", "show 99 <!channel>")
    assert reply["response_type"] == "ephemeral"
    reply = await command(slack, "/insight", "Ping &lt;!channel&gt; @here &amp; co", trigger="t2")
    assert "<!channel>" not in reply["text"] and "&lt;!channel&gt;" in reply["text"]
    assert "@\u200bhere" in reply["text"]


async def test_workspace_roles_map_to_curator(slack: Env) -> None:
    slack.api.groups["S1"] = ["UGRP"]  # group members are cached: set before the first ask
    refused = await command(slack, "/export", "", user="UBOB", trigger="t1")
    assert "Only curators" in refused["text"]
    slack.api.add_user("UADM", "adm", is_admin=True)
    allowed = await command(slack, "/export", "", user="UADM", trigger="t2")
    assert "Only curators" not in allowed["text"]
    grouped = await command(slack, "/export", "", user="UGRP", trigger="t3")
    assert "Only curators" not in grouped["text"]
    community = await slack.hearth.services.directory.community_by_slug("guild")
    assert community is not None
    member = await slack.hearth.services.directory.resolve_member(
        community.id, "slack", "UADM", "adm"
    )
    assert member.role is Role.CURATOR


async def test_a_role_the_workspace_takes_back_is_gone_and_the_configs_stays(
    database_url: str, tmp_path: Path
) -> None:
    """Why: a moderator who is removed must lose curator rights at once (not keep them
    forever), while a steward named in the config keeps theirs whatever Slack says, and a
    Slack outage takes nobody's role away."""
    refused = "Only curators can use /export."
    async with slack_env(database_url, tmp_path, role_cache_seconds=0) as slack:
        api, triggers = slack.api, iter(f"t{n}" for n in range(20))

        async def export(user: str) -> str:
            return str(
                (await command(slack, "/export", "", user=user, trigger=next(triggers)))["text"]
            )

        api.add_user("UMOD", "mod", is_admin=True)
        api.groups["S1"] = ["UGRP"]
        assert "Exported 0 insight(s)" in await export("UMOD")
        assert await export("UGRP") != refused

        api.queue("users.info", Answer(200, {"ok": False, "error": "fatal_error"}))
        assert await export("UMOD") != refused  # Slack could not say: nothing changes

        api.users["UMOD"]["is_admin"] = False
        api.groups["S1"] = []
        assert await export("UMOD") == refused
        assert await export("UGRP") == refused

        api.add_user("USTEVE", "steve", is_admin=True)  # named a steward in the config
        assert await export("USTEVE") != refused
        api.users["USTEVE"]["is_admin"] = False
        assert await export("USTEVE") != refused

        api.users["UMOD"]["is_admin"] = True  # a 💡 carries the workspace's role too
        api.add_message("C1", "UANN", "Write the test first", "1700000000.000900")
        reacted = slack.expect("Ev-role")
        body = event_body(reaction("1700000000.000900", user="UMOD"), "Ev-role")
        assert (await send(slack.url, body, JSON)).status == 200
        await reacted
        community = await slack.hearth.services.directory.community_by_slug("guild")
        assert community is not None
        member = await slack.hearth.services.directory.resolve_member(
            community.id, "slack", "UMOD", "mod"
        )
        assert member.role is Role.CURATOR


async def test_bad_signature_and_stale_timestamp_get_401_and_no_effect(slack: Env) -> None:
    before = list(slack.api.calls)
    body = command_body("/insight", "Sneaky", "UANN", slack.api.response_url())
    forged = await send(slack.url, body, FORM, secret="wrong-secret")
    stale = await send(slack.url, body, FORM, timestamp=int(time.time()) - 600)
    event = event_body(
        {
            "type": "reaction_added",
            "user": "UANN",
            "reaction": "bulb",
            "item": {"type": "message", "channel": "C1", "ts": "1700000000.000100"},
        },
        "Ev-forged",
    )
    forged_event = await send(slack.url, event, JSON, secret="nope")
    assert (forged.status, stale.status, forged_event.status) == (401, 401, 401)
    assert slack.api.calls == before and slack.api.responses == []
    assert await slack.insight_for("1700000000.000100") is None


async def test_url_verification(slack: Env) -> None:
    body = json.dumps({"token": "x", "challenge": "chal-123", "type": "url_verification"})
    sent = await send(slack.url, body, JSON)
    assert sent.status == 200 and "chal-123" in sent.text
    assert (await send(slack.url, body, JSON, secret="bad")).status == 401


# the shortcut and the modal ----------------------------------------------------------


def shortcut(ts: str, text: str) -> dict[str, Any]:
    return {
        "type": "message_action",
        "callback_id": "hearth_save_insight",
        "trigger_id": "trig-s",
        "team": {"id": TEAM},
        "channel": {"id": "C1"},
        "user": {"id": "UBOB"},
        "response_url": "http://127.0.0.1:1/unused",
        "message_ts": ts,
        "message": {"type": "message", "user": "UANN", "text": text, "ts": ts},
    }


def submission(view: dict[str, Any], tags: str, view_id: str = "V1") -> dict[str, Any]:
    return {
        "type": "view_submission",
        "team": {"id": TEAM},
        "user": {"id": "UBOB"},
        "view": {
            **view,
            "id": view_id,
            "state": {
                "values": {"tags": {"tags_input": {"type": "plain_text_input", "value": tags}}}
            },
        },
    }


async def test_shortcut_opens_prefilled_modal_and_submission_captures(slack: Env) -> None:
    ts = "1700000000.000200"
    slack.api.add_message("C1", "UANN", "Pairing beats docs #onboarding #review", ts)
    sent = await send(
        slack.url, interactive_body(shortcut(ts, "Pairing beats docs #onboarding #review")), FORM
    )
    assert sent.status == 200
    (opened,) = await slack.api.wait_calls("views.open")
    view = opened.params["view"]
    view = view if isinstance(view, dict) else json.loads(view)
    assert view["blocks"][1]["element"]["initial_value"] == "#onboarding #review"

    bad = await send(slack.url, interactive_body(submission(view, "#ok not!ok")), FORM)
    assert bad.status == 200 and json.loads(bad.text)["response_action"] == "errors"
    assert await slack.insight_for(ts) is None

    good = await send(slack.url, interactive_body(submission(view, "#onboarding, mentoring")), FORM)
    assert good.status == 200
    (posted,) = await slack.api.wait_calls("chat.postMessage")
    assert posted.params["thread_ts"] == ts and "Captured insight" in posted.params["text"]
    insight = await slack.insight_for(ts)
    assert insight is not None and set(insight.tags) == {"onboarding", "mentoring"}
    assert insight.author_name == "ann"
    assert insight.permalink == "https://hearth-test.slack.com/archives/C1/p1700000000000200"

    again = await send(slack.url, interactive_body(submission(view, "#x")), FORM)  # same view
    assert again.status == 200
    assert len(slack.api.named("chat.postMessage")) == 1


# events ------------------------------------------------------------------------------


def reaction(ts: str, reaction_name: str = "bulb", user: str = "UBOB") -> dict[str, Any]:
    return {
        "type": "reaction_added",
        "user": user,
        "reaction": reaction_name,
        "item": {"type": "message", "channel": "C1", "ts": ts},
        "event_ts": "1.0",
    }


async def test_bulb_captures_once_even_when_slack_retries(slack: Env) -> None:
    ts = "1700000000.000300"
    slack.api.add_message("C1", "UANN", "Write the test first", ts)
    body = event_body(reaction(ts), "Ev1")
    done = slack.expect("Ev1")
    first = await send(slack.url, body, JSON)
    assert first.status == 200
    await done
    retried = await send(slack.url, body, JSON, retry=1)
    assert retried.status == 200 and retried.headers.get("x-slack-no-retry") == "1"
    second = slack.expect("Ev2")
    await send(slack.url, event_body(reaction(ts, user="UANN"), "Ev2"), JSON)
    await second
    posts = slack.api.named("chat.postMessage")
    assert len(posts) == 2
    assert "Captured insight" in posts[0].params["text"] and posts[0].params["thread_ts"] == ts
    assert "Already captured" in posts[1].params["text"]
    assert len(slack.api.named("conversations.history")) == 1


async def test_thread_reply_capture_then_edit_and_delete(slack: Env) -> None:
    root, reply_ts = "1700000000.000400", "1700000000.000500"
    slack.api.add_message("C1", "UBOB", "Question?", root, thread_ts=root)
    slack.api.add_message(
        "C1", "UANN", "Answer with <https://x.org|a link>", reply_ts, thread_ts=root
    )
    done = slack.expect("Ev3")
    await send(slack.url, event_body(reaction(reply_ts), "Ev3"), JSON)
    await done
    insight = await slack.insight_for(reply_ts)
    assert insight is not None and insight.body == "Answer with a link (https://x.org)"
    assert slack.api.named("conversations.replies")[0].params["ts"] == reply_ts

    edited = {
        "type": "message",
        "subtype": "message_changed",
        "channel": "C1",
        "ts": "1.1",
        "message": {
            "type": "message",
            "user": "UANN",
            "text": "Better answer",
            "ts": reply_ts,
            "thread_ts": root,
        },
        "previous_message": {"type": "message", "user": "UANN", "text": "Answer", "ts": reply_ts},
    }
    done = slack.expect("Ev4")
    assert (await send(slack.url, event_body(edited, "Ev4"), JSON)).status == 200
    await done
    insight = await slack.insight_for(reply_ts)
    assert insight is not None and insight.body == "Better answer"

    deleted = {
        "type": "message",
        "subtype": "message_deleted",
        "channel": "C1",
        "ts": "1.2",
        "deleted_ts": reply_ts,
        "previous_message": {"ts": reply_ts, "thread_ts": root},
    }
    done = slack.expect("Ev5")
    assert (await send(slack.url, event_body(deleted, "Ev5"), JSON)).status == 200
    await done
    insight = await slack.insight_for(reply_ts)
    assert insight is not None and insight.source_deleted


async def test_plain_message_is_accepted(slack: Env) -> None:
    message = {
        "type": "message",
        "user": "UANN",
        "text": "hello",
        "ts": "1700000000.000600",
        "channel": "C1",
        "thread_ts": "1700000000.000100",
    }
    done = slack.expect("Ev6")
    sent = await send(slack.url, event_body(message, "Ev6"), JSON)
    assert sent.status == 200
    await done


# outbound ----------------------------------------------------------------------------


async def test_429_is_retried_after_retry_after(slack: Env) -> None:
    slack.api.queue(
        "chat.postMessage", Answer(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"})
    )
    ref = await slack.adapter.post(C1, OutboundMessage("**hi** <you>"))
    calls = slack.api.named("chat.postMessage")
    assert len(calls) == 2 and ref.message_id
    assert calls[1].at - calls[0].at >= 1  # Slack saw the retry after Retry-After
    assert calls[-1].params["text"] == "*hi* &lt;you&gt;"


async def test_typed_failures(database_url: str, tmp_path: Path) -> None:
    api = LoopbackSlack()
    await api.start()
    hearth = await Hearth.open(hearth_config(database_url, tmp_path))
    adapter = SlackAdapter(
        slack_config(api, rate_limit_retries=0),
        InboundLog(hearth.database),
    )
    try:
        await adapter.connect()
        api.queue(
            "chat.postMessage",
            Answer(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "7"}),
        )
        with pytest.raises(RateLimited) as limited:
            await adapter.post(C1, OutboundMessage("x"))
        assert limited.value.retry_after == 7
        api.queue("chat.update", Answer(200, {"ok": False, "error": "message_not_found"}))
        with pytest.raises(TargetGone):
            await adapter.edit(MessageRef(C1, "1.000001"), OutboundMessage("x"))
        api.queue("chat.postMessage", Answer(200, {"ok": False, "error": "not_in_channel"}))
        with pytest.raises(Forbidden):
            await adapter.post(C1, OutboundMessage("x"))
    finally:
        await hearth.close()
        await api.close()


async def test_socket_mode_command(database_url: str, tmp_path: Path) -> None:
    api = LoopbackSlack()
    await api.start()
    hearth = await Hearth.open(hearth_config(database_url, tmp_path))
    config = slack_config(api, mode="socket", signing_secret="", app_token="xapp-test")
    adapter = SlackAdapter(config, InboundLog(hearth.database))
    try:
        await adapter.connect()
        await adapter.start(hearth.inbound)
        payload = {
            "team_id": TEAM,
            "channel_id": "C1",
            "user_id": "UANN",
            "command": "/insight",
            "text": "Socket insight #sm",
            "response_url": api.response_url("sm"),
            "trigger_id": "trig-sm",
        }
        await api.send_envelope("slash_commands", payload, "env-1")
        await api.wait_for(lambda: bool(api.responses) and bool(api.envelope_acks))
        assert api.envelope_acks[0]["envelope_id"] == "env-1"
        assert "Captured insight" in api.responses[0]["text"]
    finally:
        await adapter.stop()
        await hearth.close()
        await api.close()


# config, manifest, text --------------------------------------------------------------


def test_config_and_manifest() -> None:
    with pytest.raises(ValueError, match="signing_secret"):
        SlackConfig(enabled=True, bot_token="xoxb")
    assert inline_secrets({"bot_token": "xoxb-1", "app_token": "${SLACK_APP_TOKEN}"}) == [
        "bot_token"
    ]
    config = SlackConfig(public_url="https://hearth.example.com", command_prefix="")
    manifest = build_manifest(config)
    commands = {c["command"] for c in manifest["features"]["slash_commands"]}
    assert {"/insight", "/search", "/tags", "/ritual"} <= commands
    assert (
        manifest["settings"]["event_subscriptions"]["request_url"]
        == "https://hearth.example.com/slack/events"
    )
    assert manifest["features"]["shortcuts"][0]["callback_id"] == "hearth_save_insight"
    scopes = manifest["oauth_config"]["scopes"]["bot"]
    assert "chat:write.customize" in scopes  # relayed copies under the author's name
    socket = build_manifest(SlackConfig(mode="socket", command_prefix="h-"))
    assert socket["settings"]["socket_mode_enabled"] is True
    assert all(
        c["command"].startswith("/h-") and "url" not in c
        for c in socket["features"]["slash_commands"]
    )
    assert "slash_commands:" in manifest_yaml(config)


def test_text_rendering() -> None:
    assert to_mrkdwn("**a** & [docs](https://d.org) <!here> @channel") == (
        "*a* &amp; <https://d.org|docs> &lt;!here&gt; @\u200bchannel"
    )
    assert to_plain("hi <@U1|ann> in <#C1|general> &lt;b&gt;") == "hi @ann in #general <b>"
    assert to_plain("<#C1|general>", keep_channels=True) == "<#C1|general>"
    long = message_payload("line\n" * 2000)
    assert len(long["blocks"]) >= 4 and all(len(b["text"]["text"]) <= 3000 for b in long["blocks"])


async def test_a_slack_refusal_during_a_command_is_shown_plainly(slack: Env) -> None:
    slack.api.queue("conversations.history", Answer(200, {"ok": False, "error": "not_in_channel"}))
    reply = await command(slack, "/insight", "message:1700000000.000100 #x", trigger="t-nic")
    assert reply["response_type"] == "ephemeral"
    assert reply["text"].startswith("Slack would not let me do that:")
    assert "incident" not in reply["text"]
