"""Federation over ActivityPub: a publishing community is a Group actor that a remote
server can find (WebFinger), follow with a signed Follow, and hear from (signed Create,
Delete); what is not signed by its actor, too large, too frequent or from a blocked
server is refused. The remote server is a loopback peer at the wire
(tests/fakes/activitypub_peer.py); bovine checks Hearth's signatures independently in
tests/test_federation_bovine.py."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from apsig.draft.verify import Verifier
from hypothesis import given
from hypothesis import strategies as st

from bot.app import Hearth
from bot.config import Config, ConfigError
from bot.config_federation import FederationConfig
from bot.federation.remote import Remote, RemoteRefused
from bot.federation.signatures import SignatureRejected, parse_signature
from knowledge.clock import ManualClock
from tests.fakes.activitypub_peer import Peer, new_key
from tests.harness.config_builder import write_config
from tests.harness.console_harness import Step, line, make_config, run_script
from tests.harness.federation_scene import START, Scene, base, federation, get
from tests.harness.garden_harness import captured, share

PASSPHRASE_ENV = "HEARTH_TEST_FEDERATION_PASSPHRASE"
HOSTILE = "Beware of hostile text <script>alert(1)</script> @everyone [x](javascript:alert(2))"
FEDERATION = f"""
[web]
listen = "127.0.0.1:0"
garden = true

[federation]
enabled = true
key_passphrase = "${{{PASSPHRASE_ENV}}}"
allow_loopback_for_tests = true
"""


@pytest.fixture
def fed_config(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[[str], Config]:
    monkeypatch.setenv(PASSPHRASE_ENV, "correct horse battery staple")

    def build(more: str = "") -> Config:
        return make_config(database_url, tmp_path, extra=FEDERATION + more)

    return build


def signed_by(hearth_key_pem: str, received: Any, method: str = "POST") -> bool:
    """apsig's verifier on what the peer received (wall-clock Date check off: ManualClock)."""
    key_id = Verifier(
        hearth_key_pem,
        method,
        received.path,
        received.headers,
        received.body,
        clock_skew=10**10,
    ).verify(raise_on_fail=True)
    return bool(key_id)


def publish(out: io.StringIO, text: str) -> list[Step]:
    return [f"/insight {text}", share(out, text[:20])]


async def test_a_publishing_community_is_found_by_webfinger_and_is_a_group_with_a_key(
    fed_config: Callable[[str], Config],
) -> None:
    out = io.StringIO()
    seen: dict[str, Any] = {}

    async def look(hearth: Hearth) -> None:
        host = base(hearth).removeprefix("http://")
        seen["before"] = await get(hearth, f"/.well-known/webfinger?resource=acct:guild@{host}")
        seen["webfinger"] = await get(hearth, "/.well-known/webfinger?resource=acct:guild@" + host)
        seen["actor"] = await get(hearth, "/ap/c/guild")
        seen["again"] = await get(hearth, "/ap/c/guild")
        seen["other_host"] = await get(hearth, "/.well-known/webfinger?resource=acct:guild@x.org")
        seen["nodeinfo_links"] = await get(hearth, "/.well-known/nodeinfo")
        seen["nodeinfo"] = await get(hearth, "/nodeinfo/2.0")
        seen["followers"] = await get(hearth, "/ap/c/guild/followers")
        seen["outbox"] = await get(hearth, "/ap/c/guild/outbox")
        seen["nobody"] = await get(hearth, "/ap/c/nobody")
        hostile_id = captured(out, "Beware of hostile text")
        seen["hostile"] = await get(hearth, f"/ap/c/guild/i/{hostile_id}")
        seen["private"] = await get(hearth, f"/ap/c/guild/i/{captured(out, 'Unlisted pricing')}")

    async def before(hearth: Hearth) -> None:
        host = base(hearth).removeprefix("http://")
        seen["unpublished"] = await get(
            hearth, f"/.well-known/webfinger?resource=acct:guild@{host}"
        )
        seen["unpublished_actor"] = await get(hearth, "/ap/c/guild")

    steps: list[Step] = [
        before,
        ":as cora",
        *publish(out, "Small pull requests get better reviews #review"),
        *publish(out, HOSTILE),
        "/insight Unlisted pricing plans stay inside #review",
        look,
    ]
    await run_script(fed_config(""), steps, ManualClock(START), out=out)

    assert seen["unpublished"][0] == 404, "a community that publishes nothing is not followable"
    assert seen["unpublished_actor"][0] == 404
    status, finger = seen["webfinger"]
    assert status == 200
    actor_url = next(link["href"] for link in finger["links"] if link["rel"] == "self")
    assert actor_url.endswith("/ap/c/guild")
    status, actor = seen["actor"]
    assert status == 200 and actor["type"] == "Group" and actor["id"] == actor_url
    assert actor["preferredUsername"] == "guild"
    assert actor["inbox"] == actor_url + "/inbox"
    assert actor["publicKey"]["owner"] == actor_url
    assert actor["publicKey"]["publicKeyPem"].startswith("-----BEGIN PUBLIC KEY-----")
    assert seen["again"][1]["publicKey"] == actor["publicKey"], "the key is made once"
    assert seen["other_host"][0] == 404
    assert seen["nodeinfo_links"][1]["links"][0]["href"].endswith("/nodeinfo/2.0")
    assert seen["nodeinfo"][1]["protocols"] == ["activitypub"]
    assert seen["followers"][1] == {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": actor_url + "/followers",
        "type": "OrderedCollection",
        "totalItems": 0,
    }, "followers are counted, never listed"
    outbox = seen["outbox"][1]
    assert outbox["totalItems"] == 2
    assert outbox["orderedItems"][1]["object"]["type"] == "Article"
    assert "Small pull requests" in outbox["orderedItems"][1]["object"]["content"]
    assert seen["nobody"][0] == 404
    status, hostile = seen["hostile"]
    assert status == 200 and hostile["type"] == "Article"
    assert "<script" not in hostile["content"] and 'href="javascript' not in hostile["content"]
    assert "@\u200beveryone" in hostile["content"], "mass mentions defused"
    assert seen["private"][0] == 404, "a community-only insight is not served"


async def test_a_signed_follow_gets_a_signed_accept_then_new_edited_and_deleted_insights(
    fed_config: Callable[[str], Config],
) -> None:
    out = io.StringIO()
    clock = ManualClock(START)
    peer = Peer()
    state: dict[str, Any] = {}

    async def follow(hearth: Hearth) -> None:
        await peer.start()
        state["key"] = (await get(hearth, "/ap/c/guild"))[1]["publicKey"]["publicKeyPem"]
        inbox = base(hearth) + "/ap/c/guild/inbox"
        state["follow"] = peer.follow(base(hearth) + "/ap/c/guild")
        state["status"] = await peer.post(inbox, state["follow"], clock.now())
        state["again"] = await peer.post(inbox, state["follow"], clock.now())
        await federation(hearth).run_once()
        await peer.wait_for(1)
        state["followers"] = (await get(hearth, "/ap/c/guild/followers"))[1]["totalItems"]

    async def deliver(hearth: Hearth) -> None:
        await federation(hearth).run_once()
        clock.advance(timedelta(minutes=1))

    async def unfollow(hearth: Hearth) -> None:
        inbox = base(hearth) + "/ap/c/guild/inbox"
        state["undo"] = await peer.post(inbox, peer.undo(state["follow"]), clock.now())
        await federation(hearth).run_once()
        state["after_undo"] = (await get(hearth, "/ap/c/guild/followers"))[1]["totalItems"]
        async with (
            aiohttp.ClientSession() as session,
            session.get(base(hearth) + "/metrics") as response,
        ):
            state["metrics"] = await response.text()

    steps: list[Step] = [
        ":as cora",
        *publish(out, "Small pull requests get better reviews #review"),
        follow,
        *publish(out, "Review checklists catch the boring mistakes #review"),
        deliver,
        line(
            lambda: (
                f"/insight edit {captured(out, 'Review checklists')} "
                "Review checklists catch the boring mistakes, so reviews discuss design"
            )
        ),
        deliver,
        line(lambda: f"/insight share {captured(out, 'Review checklists')} community"),
        deliver,
        unfollow,
        *publish(out, "Pairing on hard bugs halves the time #pairing"),
        deliver,
    ]
    try:
        await run_script(fed_config(""), steps, clock, out=out)
    finally:
        await peer.stop()

    assert state["status"] == 202 and state["again"] == 202
    assert state["followers"] == 1
    kinds = [r.activity["type"] for r in peer.received]
    assert kinds == ["Accept", "Create", "Update", "Delete"], "once each, in order; none after Undo"
    accept, create, update, delete = (r.activity for r in peer.received)
    assert update["object"]["id"] == create["object"]["id"]
    assert "so reviews discuss design" in update["object"]["content"]
    assert accept["object"]["id"] == state["follow"]["id"]
    article = create["object"]
    assert article["type"] == "Article"
    assert "Review checklists catch the boring mistakes" in article["content"]
    assert "https://www.w3.org/ns/activitystreams#Public" in create["to"]
    assert "Small pull requests" not in str(create), "what was public before the follow stays"
    assert delete["object"]["id"] == article["id"]
    assert all(signed_by(state["key"], r) for r in peer.received)
    assert all(r.header("signature").count("digest") == 1 for r in peer.received)
    assert state["undo"] == 202 and state["after_undo"] == 0
    assert 'hearth_federation_inbox_total{outcome="duplicate"} 1.0' in state["metrics"]
    assert 'hearth_federation_deliveries_total{outcome="delivered"} 4.0' in state["metrics"]
    assert peer.fetches, "Hearth fetched the follower's key"
    assert all(signed_by(state["key"], f, "GET") for f in peer.fetches), "authorized fetch"


async def test_forged_tampered_stale_and_blocked_follows_are_refused(
    fed_config: Callable[[str], Config],
) -> None:
    out = io.StringIO()
    clock = ManualClock(START)
    peer = Peer()
    state: dict[str, Any] = {}

    async def attack(hearth: Hearth) -> None:
        await peer.start()
        inbox = base(hearth) + "/ap/c/guild/inbox"
        target = base(hearth) + "/ap/c/guild"
        state["forged"] = await peer.post(inbox, peer.follow(target, 1), clock.now(), key=new_key())
        tampered = peer.follow(target, 2)
        evil = dict(tampered, object=base(hearth) + "/ap/c/elsewhere")
        state["tampered"] = await peer.post(
            inbox, tampered, clock.now(), body=json.dumps(evil).encode()
        )
        state["stale"] = await peer.post(
            inbox, peer.follow(target, 3), clock.now() - timedelta(minutes=30)
        )
        async with (
            aiohttp.ClientSession() as session,
            session.post(inbox, json=peer.follow(target, 4)) as response,
        ):
            state["unsigned_status"] = response.status
        other_key_id = "http://127.0.0.2:9/users/mallory#main-key"
        state["other_server"] = await peer.post(
            inbox, peer.follow(target, 5), clock.now(), key_id=other_key_id
        )
        state["huge"] = await peer.post(
            inbox, dict(peer.follow(target, 6), padding="x" * 300_000), clock.now()
        )
        await federation(hearth).run_once()
        state["followers"] = (await get(hearth, "/ap/c/guild/followers"))[1]["totalItems"]

    steps: list[Step] = [
        ":as cora",
        *publish(out, "Small pull requests get better reviews #review"),
        attack,
    ]
    try:
        await run_script(fed_config(""), steps, clock, out=out)
    finally:
        await peer.stop()
    assert state["forged"] == 401, "signed with a key that is not the actor's"
    assert state["tampered"] == 401, "the body does not match its signed Digest"
    assert state["stale"] == 401, "a Date outside the window (a replay)"
    assert state["unsigned_status"] == 401
    assert state["other_server"] == 401, "a key of another server than the activity's"
    assert state["huge"] == 413
    assert state["followers"] == 0 and peer.received == []


async def test_a_blocked_server_and_a_flood_from_one_server_are_refused(
    fed_config: Callable[[str], Config],
) -> None:
    out = io.StringIO()
    clock = ManualClock(START)
    peer = Peer()
    state: dict[str, list[int]] = {"statuses": []}

    async def flood(hearth: Hearth) -> None:
        await peer.start()
        inbox = base(hearth) + "/ap/c/guild/inbox"
        for number in range(4):
            follow = peer.follow(base(hearth) + "/ap/c/guild", number)
            state["statuses"].append(await peer.post(inbox, follow, clock.now()))

    limits = "requests_per_minute_per_host = 3\n"
    await run_script(
        fed_config(limits),
        [":as cora", *publish(out, "Small pull requests get better reviews #review"), flood],
        clock,
        out=out,
    )
    await peer.stop()
    assert state["statuses"] == [202, 202, 202, 429]

    blocked = Peer()
    state["blocked"] = []

    async def from_blocked(hearth: Hearth) -> None:
        await blocked.start()
        inbox = base(hearth) + "/ap/c/guild/inbox"
        follow = blocked.follow(base(hearth) + "/ap/c/guild")
        state["blocked"].append(await blocked.post(inbox, follow, clock.now()))

    await run_script(
        fed_config('blocked_hosts = ["127.0.0.1"]\n'),
        [":as cora", *publish(out, "Review checklists catch mistakes #review"), from_blocked],
        clock,
        out=out,
    )
    await blocked.stop()
    assert state["blocked"] == [403]


async def test_a_follower_that_is_down_gets_everything_once_in_order_when_back(
    fed_config: Callable[[str], Config],
) -> None:
    scene = Scene()
    clock, peer, out, state = scene.clock, scene.peer, scene.out, scene.state

    async def come_back(hearth: Hearth) -> None:
        state["while_down"] = len(peer.received)
        peer.fail_with = None
        for _ in range(12):  # backoff: each round moves past the next retry
            clock.advance(timedelta(minutes=10))
            await federation(hearth).run_once()
        await peer.wait_for(4)

    steps: list[Step] = [":as cora", *publish(out, "First public lesson about reviews #review")]
    steps += [scene.follow(then_fail_with=503)]
    for text in ("Second lesson on pairing", "Third lesson on retros", "Fourth lesson on demos"):
        steps += [*publish(out, text), scene.deliver()]
    steps += [come_back]
    await scene.run(fed_config(""), steps)
    assert state["while_down"] == 1
    creates = [a["object"]["content"] for a in peer.activities("Create")]
    assert len(creates) == 3
    assert ["Second" in creates[0], "Third" in creates[1], "Fourth" in creates[2]] == [True] * 3


async def test_fetches_of_private_and_blocked_addresses_are_refused_without_the_test_setting() -> (
    None
):
    remote = Remote(FederationConfig(blocked_hosts=["evil.example"]))
    try:
        for url in (
            "http://127.0.0.1:1/actor",  # plain http
            "https://127.0.0.1/actor",
            "https://10.1.2.3/actor",
            "https://[::1]/actor",
            "https://169.254.169.254/latest/meta-data",
            "https://localhost/actor",  # a name that resolves to loopback
            "https://social.evil.example/users/x",
            "file:///etc/passwd",
        ):
            with pytest.raises(RemoteRefused):
                await remote.get_json(url)
    finally:
        await remote.close()


def test_federation_settings_are_checked_when_the_config_is_read(tmp_path: Path) -> None:
    from tests.harness.config_builder import build_config

    with pytest.raises(ConfigError, match="key_passphrase"):
        build_config(
            "sqlite+aiosqlite:///x.db",
            tmp_path,
            extra='[web]\nlisten = "127.0.0.1:0"\n[federation]\nenabled = true\n',
        )
    with pytest.raises(ConfigError, match="environment"):
        build_config(
            "sqlite+aiosqlite:///x.db",
            tmp_path,
            extra='[web]\nlisten = "127.0.0.1:0"\n[federation]\nenabled = true\n'
            'key_passphrase = "hunter2"\n',
        )
    with pytest.raises(ConfigError, match="web"):
        build_config(
            "sqlite+aiosqlite:///x.db",
            tmp_path,
            extra='[federation]\nenabled = true\nkey_passphrase = "${HOME}"\n',
        )
    assert build_config("sqlite+aiosqlite:///x.db", tmp_path).federation.enabled is False


@given(st.text(max_size=300))
def test_any_signature_header_is_parsed_or_refused_in_one_sentence(header: str) -> None:
    try:
        params = parse_signature(header)
    except SignatureRejected as exc:
        assert str(exc).endswith(("malformed", "signature"))
    else:
        assert isinstance(params.key_id, str)


async def test_forget_me_deletes_the_persons_public_insight_from_followers(
    fed_config: Callable[[str], Config],
) -> None:
    out = io.StringIO()
    clock = ManualClock(START)
    peer = Peer()

    async def follow(hearth: Hearth) -> None:
        await peer.start()
        inbox = base(hearth) + "/ap/c/guild/inbox"
        await peer.post(inbox, peer.follow(base(hearth) + "/ap/c/guild"), clock.now())
        await federation(hearth).run_once()

    async def deliver(hearth: Hearth) -> None:
        await federation(hearth).run_once()

    words = "Zelda's tip on pairing with rubber ducks"
    steps: list[Step] = [
        ":as cora",
        *publish(out, "Small pull requests get better reviews #review"),
        follow,
        ":as zelda",
        f"/insight {words}",
        ":as cora",
        share(out, words[:20]),
        deliver,
        ":as zelda",
        "/forget-me",
        "/forget-me confirm",
        deliver,
    ]
    try:
        await run_script(fed_config(""), steps, clock, out=out)
    finally:
        await peer.stop()
    assert [r.activity["type"] for r in peer.received] == ["Accept", "Create", "Delete"]
    create, delete = peer.activities("Create")[0], peer.activities("Delete")[0]
    assert "rubber ducks" in create["object"]["content"]
    assert delete["object"]["id"] == create["object"]["id"]
    assert "rubber ducks" not in json.dumps(delete)


def cli(*args: str | Path) -> str:
    """`hearth …` as a process; its output (it must succeed)."""
    done = subprocess.run(
        [sys.executable, "-m", "bot", *(str(a) for a in args)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HEARTH_CONFIG": ""},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_follow_answered_202_is_handled_after_a_restart_that_lost_the_process(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """202 comes after the durable write: a process that stops before handling loses
    nothing; the next one sends the Accept, once."""
    monkeypatch.setenv(PASSPHRASE_ENV, "restart passphrase")
    port = free_port()
    extra = FEDERATION.replace('listen = "127.0.0.1:0"', f'listen = "127.0.0.1:{port}"')
    config = make_config(database_url, tmp_path, extra=extra)
    out = io.StringIO()
    clock = ManualClock(START)
    peer = Peer()
    state: dict[str, Any] = {}

    async def follow_then_stop(hearth: Hearth) -> None:
        await peer.start()
        inbox = base(hearth) + "/ap/c/guild/inbox"
        state["status"] = await peer.post(
            inbox, peer.follow(base(hearth) + "/ap/c/guild"), clock.now()
        )

    async def handle_twice(hearth: Hearth) -> None:
        await federation(hearth).run_once()
        await peer.wait_for(1)
        await federation(hearth).run_once()
        state["followers"] = (await get(hearth, "/ap/c/guild/followers"))[1]["totalItems"]

    try:
        first: list[Step] = [
            ":as cora",
            *publish(out, "Small pull requests get reviews"),
            follow_then_stop,
        ]
        await run_script(config, first, clock, out=out)
        assert peer.received == [], "the first process never handled it"
        await run_script(config, [handle_twice], clock, out=io.StringIO())
    finally:
        await peer.stop()
    assert state["status"] == 202
    assert [r.activity["type"] for r in peer.received] == ["Accept"]
    assert state["followers"] == 1


async def test_a_refusing_follower_parks_its_lane_until_retried_then_gets_all_in_order(
    fed_config: Callable[[str], Config], database_url: str, tmp_path: Path
) -> None:
    """A 4xx is not retried blindly: the delivery parks and later ones to that inbox wait
    behind it, in order, until an operator retries (`hearth federation retry`); a 429
    only waits."""
    config_file = write_config(tmp_path / "hearth.toml", database_url, extra=FEDERATION)
    scene = Scene()
    clock, peer, out, state = scene.clock, scene.peer, scene.out, scene.state
    deliver = scene.deliver(then_advance=timedelta(hours=1))

    async def retry(hearth: Hearth) -> None:
        queue = federation(hearth).deliverer.queue
        state["parked"] = (await queue.counts()).get("parked", 0)
        state["status"] = await asyncio.to_thread(
            cli, "federation", "status", "--config", config_file
        )
        peer.fail_with = 429
        state["retried"] = await asyncio.to_thread(
            cli, "federation", "retry", "--config", config_file
        )
        await federation(hearth).run_once()
        state["after_429"] = await queue.counts()
        peer.fail_with = None
        clock.advance(timedelta(minutes=2))
        await federation(hearth).run_once()
        await peer.wait_for(3)

    steps: list[Step] = [
        ":as cora",
        *publish(out, "First public lesson about reviews #review"),
        scene.follow(then_fail_with=403),
    ]
    steps += [*publish(out, "Second lesson on pairing"), deliver]
    steps += [*publish(out, "Third lesson on retros"), deliver, retry]
    await scene.run(fed_config(""), steps)
    assert state["parked"] == 1, "the first refused delivery parks; the next waits behind it"
    assert "guild: 1 follower(s) on 127.0.0.1:" in state["status"]
    assert "deliveries: 1 pending, 1 delivered, 1 parked" in state["status"], "one waits behind"
    assert "1 parked deliveries will be tried again." in state["retried"]
    assert state["after_429"].get("parked", 0) == 0, "429 waits, it does not park"
    creates = [a["object"]["content"] for a in peer.activities("Create")]
    assert len(creates) == 2 and "Second" in creates[0] and "Third" in creates[1]


async def test_a_rotated_key_is_announced_to_followers_and_signs_what_follows(
    fed_config: Callable[[str], Config],
) -> None:
    out = io.StringIO()
    clock = ManualClock(START)
    peer = Peer()
    state: dict[str, Any] = {}

    async def follow(hearth: Hearth) -> None:
        await peer.start()
        state["old"] = (await get(hearth, "/ap/c/guild"))[1]["publicKey"]["publicKeyPem"]
        inbox = base(hearth) + "/ap/c/guild/inbox"
        await peer.post(inbox, peer.follow(base(hearth) + "/ap/c/guild"), clock.now())
        await federation(hearth).run_once()
        await peer.wait_for(1)

    async def rotate(hearth: Hearth) -> None:
        state["told"] = await federation(hearth).rotate_key("guild")
        state["new"] = (await get(hearth, "/ap/c/guild"))[1]["publicKey"]["publicKeyPem"]
        await federation(hearth).run_once()

    async def deliver(hearth: Hearth) -> None:
        await federation(hearth).run_once()
        await peer.wait_for(3)

    steps: list[Step] = [":as cora", *publish(out, "First public lesson about reviews #review")]
    steps += [follow, rotate, *publish(out, "Second lesson on pairing"), deliver]
    try:
        await run_script(fed_config(""), steps, clock, out=out)
    finally:
        await peer.stop()
    assert state["told"] == 1 and state["new"] != state["old"]
    accept, update, create = peer.received
    assert update.activity["type"] == "Update"
    assert update.activity["object"]["publicKey"]["publicKeyPem"] == state["new"]
    assert create.activity["type"] == "Create"
    assert signed_by(state["old"], accept)
    assert signed_by(state["new"], update) and signed_by(state["new"], create)
    with pytest.raises(Exception, match="Invalid signature"):
        signed_by(state["old"], create)


async def test_a_follower_whose_inbox_is_gone_is_dropped_and_not_retried(
    fed_config: Callable[[str], Config],
) -> None:
    scene = Scene()
    out, state = scene.out, scene.state

    async def deliver(hearth: Hearth) -> None:
        await scene.deliver(then_advance=timedelta(hours=1))(hearth)
        await federation(hearth).run_once()
        state["followers"] = (await get(hearth, "/ap/c/guild/followers"))[1]["totalItems"]
        state["queue"] = await federation(hearth).deliverer.queue.counts()

    steps: list[Step] = [":as cora", *publish(out, "First public lesson about reviews #review")]
    steps += [scene.follow(then_fail_with=410), *publish(out, "Second lesson on pairing"), deliver]
    steps += [*publish(out, "Third lesson on retros"), deliver]
    await scene.run(fed_config(""), steps)
    assert state["followers"] == 0
    assert state["queue"] == {"delivered": 1, "gone": 1}, "nothing more queued for it"


async def test_malformed_activities_get_one_clear_sentence(
    fed_config: Callable[[str], Config],
) -> None:
    out = io.StringIO()
    clock = ManualClock(START)
    peer = Peer()
    answers: list[tuple[int, str]] = []

    async def send(hearth: Hearth) -> None:
        await peer.start()
        inbox = base(hearth) + "/ap/c/guild/inbox"
        follow = peer.follow(base(hearth) + "/ap/c/guild")
        for body in (b"not json at all", b"[1, 2]", json.dumps({"type": "Follow"}).encode()):
            headers = {"Signature": f'keyId="{peer.key_id}",signature="AAAA"'}
            async with (
                aiohttp.ClientSession() as session,
                session.post(inbox, data=body, headers=headers) as response,
            ):
                answers.append((response.status, (await response.json())["error"]))
        async with (
            aiohttp.ClientSession() as session,
            session.get(inbox) as response,
        ):
            answers.append((response.status, (await response.json())["error"]))
        answers.append((await peer.post(inbox, follow, clock.now()), ""))

    steps: list[Step] = [":as cora", *publish(out, "First public lesson about reviews #review")]
    try:
        await run_script(fed_config(""), [*steps, send], clock, out=out)
    finally:
        await peer.stop()
    assert answers == [
        (400, "the body is not JSON"),
        (400, "the body is not a JSON object"),
        (400, "the activity has no id or actor"),
        (405, "POST activities here"),
        (202, ""),
    ]


@given(
    st.dictionaries(
        st.sampled_from(["id", "inbox", "publicKey", "endpoints", "type", "owner", "publicKeyPem"]),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=30),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(
                    st.sampled_from(["id", "owner", "publicKeyPem"]), inner, max_size=3
                )
            ),
            max_leaves=8,
        ),
    )
)
def test_any_remote_actor_document_is_read_or_refused_in_one_sentence(
    document: dict[str, Any],
) -> None:
    from bot.federation.actors import parse_actor
    from bot.federation.remote import RemoteFailed

    try:
        actor = parse_actor(document, "https://remote.example/users/x#main-key")
    except RemoteFailed as exc:
        assert str(exc).startswith("the actor")
    else:
        assert actor.id and actor.public_pem


async def test_two_processes_publishing_the_same_change_queue_it_once(database: Any) -> None:
    """Every instance runs the publisher; the conditional writes let one of them win."""
    from knowledge.directory import Directory
    from knowledge.federation import FederationStore
    from knowledge.federation_queue import Delivery, DeliveryQueue

    community = await Directory(database).ensure_community("guild", "The Guild", "UTC")
    stores = [FederationStore(database), FederationStore(database)]
    version = START

    def deliveries(kind: str) -> list[Delivery]:
        activity = {"type": kind, "id": f"https://h/ap/c/guild/i/7#{kind}"}
        return [Delivery(f"{kind}:7:https://r/inbox", community.id, "https://r/inbox", activity)]

    created = await asyncio.gather(
        *(s.announce(community.id, 7, version, deliveries("Create"), START) for s in stores)
    )
    edited = await asyncio.gather(
        *(
            s.announce(community.id, 7, version + timedelta(minutes=1), deliveries("Update"), START)
            for s in stores
        )
    )
    same_again = await stores[0].announce(community.id, 7, version, deliveries("Update"), START)
    withdrawn = await asyncio.gather(
        *(s.withdraw(community.id, 7, deliveries("Delete"), START) for s in stores)
    )
    assert sorted(created) == [False, True]
    assert sorted(edited) == [False, True]
    assert same_again is False, "an older version is not told again"
    assert sorted(withdrawn) == [False, True]
    assert (await DeliveryQueue(database).counts()) == {"pending": 3}
