"""Installing Hearth to many Slack workspaces: slack-bolt's real OAuth v2 flow against the
loopback Web API (`oauth.v2.access`, per-workspace `auth.test`), signed requests, two
workspaces at once, a relay between them, an uninstall and a reinstall, token rotation,
and every way an installer's browser can arrive wrong.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from cryptography.fernet import Fernet
from sqlalchemy import text

from adapters.slack import SlackAdapter, SlackConfig, manifest_yaml
from bot.app import Hearth
from bot.config import ConfigError, parse_config
from knowledge.clock import ManualClock
from knowledge.inbound import InboundLog
from knowledge.slack_installs import SlackInstalls
from tests.fakes.slack_loopback import (
    CLIENT_ID,
    CLIENT_SECRET,
    FORM,
    JSON,
    SECRET,
    EventsEndpoint,
    LoopbackSlack,
    Workspace,
    command_body,
    event_body,
    send,
)
from tests.harness.config_builder import GUILD, Channel, Community, build_config

ACME = Workspace("TACME", "Acme", "UBOTA", "BBOTA")  # no community in the config
BETA = Workspace("TBETA", "Beta", "UBOTB", "BBOTB")  # the Mill lives in its #yard
MILL = Community("mill", "The Mill", (Channel("slack", BETA.team_id, "CYARD"),))
STATE_COOKIE = "slack-app-oauth-state"


@dataclass
class Page:
    status: int
    text: str


@dataclass
class World(EventsEndpoint):
    hearth: Hearth
    api: LoopbackSlack
    adapter: SlackAdapter
    delivered: dict[str, asyncio.Future[None]]
    triggers: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.adapter.http_port}"

    async def get(self, path: str, cookie: str | None = None) -> tuple[Page, dict[str, str]]:
        headers = {"Cookie": cookie} if cookie else {}
        async with (
            aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http,
            http.get(self.base + path, headers=headers, allow_redirects=False) as response,
        ):
            return Page(response.status, await response.text()), dict(response.headers)

    async def start_install(self) -> str:
        """Open "Add to Slack": the state is in the consent link and in the cookie."""
        page, headers = await self.get("/slack/install")
        assert page.status == 200
        state = re.search(r"state=([\w-]+)", page.text)
        assert state is not None and "/oauth/v2/authorize?" in page.text
        assert f"{STATE_COOKIE}={state.group(1)}" in headers.get("Set-Cookie", "")
        return state.group(1)

    async def install(self, workspace: Workspace) -> Page:
        """The whole flow: install page, consent in Slack, back to the redirect URL."""
        state = await self.start_install()
        code = self.api.authorize(workspace)
        page, _ = await self.get(
            f"/slack/oauth_redirect?code={code}&state={state}", f"{STATE_COOKIE}={state}"
        )
        return page

    async def command(self, workspace: Workspace, channel: str, user: str, line: str) -> str:
        """A signed slash command from `workspace`; the reply Slack got on its response_url."""
        name, _, rest = line.partition(" ")
        self.triggers += 1
        trigger = f"t{self.triggers}"
        body = command_body(
            name,
            rest,
            user,
            self.api.response_url(trigger),
            channel=channel,
            trigger=trigger,
            team=workspace.team_id,
        )
        count = len(self.api.responses)
        sent = await send(self.url, body, FORM)
        assert sent.status == 200, sent.text
        if sent.text:  # bolt answered at once (e.g. the workspace is not installed)
            return sent.text
        await self.api.wait_for(lambda: len(self.api.responses) > count)
        return str(self.api.responses[-1])

    async def event(self, workspace: Workspace, event: dict[str, Any], event_id: str) -> None:
        done = self.expect(event_id)
        sent = await send(self.url, event_body(event, event_id, workspace), JSON)
        assert sent.status == 200, sent.text
        await asyncio.wait_for(done, 60)  # a hang guard

    async def say(
        self,
        workspace: Workspace,
        channel: str,
        user: str,
        words: str,
        ts: str,
        thread_ts: str | None = None,
    ) -> None:
        """Someone posts in Slack: Slack keeps the message and sends the event."""
        message = self.api.add_message(channel, user, words, ts, thread_ts)
        await self.event(workspace, {**message, "channel": channel}, f"Ev{ts}")

    def copies(self, channel: str) -> list[dict[str, Any]]:
        """Relayed copies Hearth posted there (under their author's name)."""
        return [m for m in self.api.messages.get(channel, []) if m.get("username")]

    def tokens_used(self, method: str, channel: str) -> set[str | None]:
        return {c.token for c in self.api.named(method) if c.params.get("channel") == channel}


@pytest.fixture
async def world(database_url: str, tmp_path: Path) -> AsyncIterator[World]:
    async with open_world(database_url, tmp_path, MILL) as opened:
        yield opened


@contextlib.asynccontextmanager
async def open_world(
    database_url: str, tmp_path: Path, *communities: Community
) -> AsyncIterator[World]:
    """Hearth (on a ManualClock) with Slack over OAuth, and the loopback Slack."""
    api = LoopbackSlack()
    await api.start()
    api.add_user("UANN", "ann", is_owner=True)  # owns Acme: a steward there
    api.add_user("UBEN", "ben", is_owner=True)  # owns Beta
    api.add_user("UCAT", "cat")
    clock = ManualClock(datetime(2026, 11, 29, 12, 0, tzinfo=UTC))
    hearth = await Hearth.open(
        build_config(database_url, tmp_path, GUILD, *communities), clock, relay_in_background=False
    )
    key = Fernet.generate_key().decode()
    config = SlackConfig(
        enabled=True,
        signing_secret=SECRET,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        token_key=key,
        api_url=api.api_url,
        port=0,
        rate_limit_retries=0,
    )
    installs = SlackInstalls(hearth.database, key)
    slack = SlackAdapter(config, InboundLog(hearth.database), installs=installs)
    world = World(hearth, api, slack, {})
    slack.on_delivered = world.done
    stop = asyncio.Event()
    running = asyncio.create_task(hearth.run([slack], stop))
    try:
        await asyncio.wait_for(slack.listening.wait(), 60)
        yield world
    finally:
        stop.set()
        await running
        await hearth.close()
        await api.close()


async def link_acme_and_beta(world: World) -> None:
    """Acme's steward invites (every thread of #general), Beta's accepts in #yard."""
    invited = await world.command(ACME, "CGEN", "UANN", "/constellation invite mode:channel")
    code = re.findall(r"HL-[A-Z0-9-]+", invited)[-1]
    accepted = await world.command(BETA, "CYARD", "UBEN", f"/constellation accept {code}")
    assert "Linked with *Acme*" in accepted


async def test_two_workspaces_install_and_each_ones_commands_reach_its_own_community(
    world: World,
) -> None:
    acme = await world.install(ACME)
    assert acme.status == 200
    assert "Hearth is now installed in Acme. Its community here: slack-tacme." in acme.text
    beta = await world.install(BETA)
    assert "installed in Beta. Its community here: mill." in beta.text

    kept = await world.command(ACME, "CGEN", "UANN", "/insight Pair on every migration #db")
    assert "Captured insight" in kept
    assert "Pair on *every* *migration*" in await world.command(
        ACME, "CRANDOM", "UCAT", "/search every migration"
    )  # any channel of Acme is Acme's community
    assert "No insights match" in await world.command(
        BETA, "CYARD", "UBEN", "/search every migration"
    )

    async with world.hearth.database.engine.connect() as connection:
        sealed = (await connection.execute(text("SELECT sealed FROM slack_installations"))).all()
    tokens = [t for t in world.api.tokens if t.startswith("xoxb-")]
    assert len(sealed) == 2 and len(tokens) == 2
    assert not any(token in str(sealed) for token in tokens)  # encrypted at rest


async def test_a_relay_between_two_workspaces_posts_with_each_workspaces_own_bot(
    world: World,
) -> None:
    await world.install(ACME)
    await world.install(BETA)
    await link_acme_and_beta(world)
    await world.say(ACME, "CGEN", "UCAT", "Who has a torque wrench?", "1800000100.000001")
    await world.hearth.relay_worker.drain()

    copy = world.copies("CYARD")[-1]
    assert copy["text"].startswith("Who has a torque wrench?")
    assert copy["username"] == "cat (Acme)" and copy["bot_id"] == BETA.bot_id
    assert world.tokens_used("chat.postMessage", "CYARD") == {world.api.token_of(BETA.team_id)}

    await world.say(BETA, "CYARD", "UBEN", "I do, in the shed", "1800000200.000001", copy["ts"])
    await world.hearth.relay_worker.drain()
    back = world.copies("CGEN")[-1]
    assert back["text"].startswith("I do, in the shed") and back["bot_id"] == ACME.bot_id
    assert back["thread_ts"] == "1800000100.000001"


async def test_uninstalling_one_workspace_pauses_its_links_and_the_other_keeps_working(
    world: World,
) -> None:
    await world.install(ACME)
    await world.install(BETA)
    await link_acme_and_beta(world)
    await world.command(ACME, "CGEN", "UANN", "/insight Label the breakers #safety")

    world.api.uninstall(ACME.team_id)
    await world.event(ACME, {"type": "app_uninstalled"}, "EvGone")
    status = await world.command(BETA, "CYARD", "UBEN", "/relay status")
    assert "*Acme* (paused)" in status
    said = await world.command(ACME, "CGEN", "UANN", "/search breakers")
    assert "not installed in this workspace any more" in said

    await world.say(BETA, "CYARD", "UBEN", "Held for Acme", "1800000300.000001")
    await world.hearth.relay_worker.drain()
    assert world.copies("CGEN") == []  # nothing reaches a workspace that left
    assert "Captured insight" in await world.command(BETA, "CYARD", "UBEN", "/insight Oil it")

    again = await world.install(ACME)  # a steward adds Hearth back: data and link return
    assert "slack-tacme" in again.text
    assert "*Acme* (active)" in await world.command(BETA, "CYARD", "UBEN", "/relay status")
    await world.say(BETA, "CYARD", "UBEN", "Welcome back", "1800000300.000002")
    await world.hearth.relay_worker.drain()
    assert [m["text"].split("\n")[0] for m in world.copies("CGEN")] == ["Welcome back"]
    posted = [c for c in world.api.named("chat.postMessage") if c.params["channel"] == "CGEN"]
    assert posted[-1].token == world.api.token_of(ACME.team_id)  # the new installation's
    assert "Label the *breakers*" in await world.command(ACME, "CGEN", "UANN", "/search breakers")


async def test_a_revoked_bot_token_pauses_the_workspace_but_a_revoked_user_token_does_not(
    world: World,
) -> None:
    await world.install(ACME)
    await world.install(BETA)
    await link_acme_and_beta(world)
    users_only = {"type": "tokens_revoked", "tokens": {"oauth": ["UANN"], "bot": []}}
    await world.event(ACME, users_only, "EvUsers")
    assert "*Acme* (active)" in await world.command(BETA, "CYARD", "UBEN", "/relay status")

    world.api.uninstall(ACME.team_id)
    bot_gone = {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": [ACME.bot_user]}}
    await world.event(ACME, bot_gone, "EvBot")
    assert "*Acme* (paused)" in await world.command(BETA, "CYARD", "UBEN", "/relay status")
    await world.say(BETA, "CYARD", "UBEN", "Anyone there?", "1800000500.000001")
    assert await world.hearth.relay_worker.drain() == 0  # nothing tried, nothing failing


async def test_a_rotating_token_is_refreshed_before_it_is_used(world: World) -> None:
    world.api.rotation_seconds = 600  # inside the two hours bolt refreshes ahead
    await world.install(ACME)
    first = world.api.token_of(ACME.team_id)

    kept = await world.command(ACME, "CGEN", "UANN", "/insight Rotate the keys #ops")
    assert "Captured insight" in kept
    refreshes = [c for c in world.api.named("oauth.v2.access") if c.params.get("grant_type")]
    assert refreshes and {c.params["grant_type"] for c in refreshes} == {"refresh_token"}
    assert first in world.api.revoked  # replaced: Slack refuses it from now on
    asked = world.api.named("users.info")[-1]  # who ran the command, asked with the new one
    assert asked.token == world.api.token_of(ACME.team_id)


@pytest.mark.parametrize(
    ("query", "cookie", "status", "sentence"),
    [
        ("code=CODE", True, 400, "This browser did not start the installation"),
        ("code=CODE&state=forged", False, 400, "This browser did not start the installation"),
        ("code=CODE&state=forged", "forged", 401, "This installation link has expired"),
        ("error=access_denied&state=STATE", True, 200, "The installation was cancelled"),
        ("state=STATE", True, 401, "Slack sent no installation code back"),
        ("code=wrong&state=STATE", True, 401, "Slack did not accept this installation code"),
    ],
)
async def test_a_wrong_arrival_at_the_redirect_gets_a_clear_page(
    world: World, query: str, cookie: bool | str, status: int, sentence: str
) -> None:
    state = await world.start_install()
    code = world.api.authorize(ACME)
    path = "/slack/oauth_redirect?" + query.replace("STATE", state).replace("CODE", code)
    sent = state if cookie is True else cookie or None
    page, _ = await world.get(path, f"{STATE_COOKIE}={sent}" if sent else None)
    assert page.status == status
    assert sentence in page.text and "Traceback" not in page.text
    assert "Add Hearth to Slack" in page.text  # the way to start again


async def test_a_replayed_redirect_is_refused_and_installs_nothing_twice(world: World) -> None:
    state = await world.start_install()
    code = world.api.authorize(ACME)
    path, cookie = f"/slack/oauth_redirect?code={code}&state={state}", f"{STATE_COOKIE}={state}"
    first, _ = await world.get(path, cookie)
    assert "Hearth is now installed in Acme" in first.text
    replayed, _ = await world.get(path, cookie)
    assert replayed.status == 401 and "expired or was already used" in replayed.text
    assert len(world.api.named("oauth.v2.access")) == 1


def test_the_manifest_names_the_redirect_url_and_how_to_distribute_the_app() -> None:
    config = SlackConfig(
        enabled=True,
        signing_secret=SECRET,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        token_key=Fernet.generate_key().decode(),
        public_url="https://hearth.example.net/",
        token_rotation=True,
    )
    printed = manifest_yaml(config)
    manifest = yaml.safe_load(printed)
    redirect = "https://hearth.example.net/slack/oauth_redirect"
    assert manifest["oauth_config"]["redirect_urls"] == [redirect]
    assert manifest["settings"]["token_rotation_enabled"] is True
    events = manifest["settings"]["event_subscriptions"]["bot_events"]
    assert {"app_uninstalled", "tokens_revoked"} <= set(events)
    assert "activate public distribution" in printed
    assert "https://hearth.example.net/slack/install" in printed


@pytest.mark.parametrize(
    ("keys", "sentence"),
    [
        ("", "Slack OAuth needs token_key, the key that encrypts each workspace's token"),
        ('token_key = "${SLACK_TEST_BAD_KEY}"', "token_key is not a Fernet key"),
        ('token_key = "${SLACK_TEST_KEY}"\nmode = "socket"', "Slack OAuth (client_id set) needs"),
    ],
)
def test_oauth_without_a_usable_token_key_is_refused_at_start_in_one_sentence(
    monkeypatch: pytest.MonkeyPatch, keys: str, sentence: str
) -> None:
    monkeypatch.setenv("SLACK_TEST_SECRET", "x")
    monkeypatch.setenv("SLACK_TEST_KEY", Fernet.generate_key().decode())
    monkeypatch.setenv("SLACK_TEST_BAD_KEY", "not-a-key")
    section = (
        '[adapters.slack]\nenabled = true\nclient_id = "1.2"\n'
        'client_secret = "${SLACK_TEST_SECRET}"\nsigning_secret = "${SLACK_TEST_SECRET}"\n'
    )
    with pytest.raises(ConfigError) as refused:
        parse_config(section + keys, "hearth.toml")
    assert sentence in str(refused.value) and "Traceback" not in str(refused.value)


async def test_junk_at_the_install_endpoints_gets_a_page_never_a_server_error(
    world: World,
) -> None:
    junk = (
        "",
        "code=&state=",
        "state=" + "x" * 5000,
        "code=%00&state=%00",
        "code=a&code=b&state=c&state=d",
        "error=&state=",
        "error=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "code=%F0%9F%92%A1&state=%E2%80%AE",
    )
    for query in junk:
        for cookie in (None, f"{STATE_COOKIE}=x", f"{STATE_COOKIE}=" + "é" * 10):
            page, headers = await world.get(f"/slack/oauth_redirect?{query}", cookie)
            assert page.status < 500, (query, page.text)
            assert "Hearth was not installed" in page.text and "<script>" not in page.text
            assert headers.get("Content-Security-Policy") == "default-src 'none'"
    install, _ = await world.get("/slack/install?team=%00" + "x" * 3000)
    assert install.status == 200
    assert world.api.named("oauth.v2.access") == []  # none of it reached Slack
