"""The Matrix adapter end to end against a real Synapse on 127.0.0.1.

People act through the client-server API (their own access tokens); the adapter runs
its real sync loop. Waiting is on futures the adapter resolves (`on_handled`,
`on_synced`), never on sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import shutil
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from adapters.matrix import MatrixAdapter, MatrixConfig
from bot.app import Hearth
from knowledge.vocabulary import Role
from tests.fakes.synapse_server import (  # noqa: F401
    MatrixUser,
    SynapseServer,
    in_thread,
    require_synapse,
    running_synapse,
    synapse,
    synapse_data_dir,
)
from tests.harness.matrix_harness import (
    WAIT,
    Env,
    Room,
    hearth_config,
    matrix_env,
    notices,
)


async def test_invite_command_reaction_search_edit_redact(matrix: Env) -> None:
    room, ann = matrix.room, matrix.ann
    captured = await matrix.command("!insight Small PRs get better reviews #review")
    assert captured["msgtype"] == "m.notice"
    assert captured["format"] == "org.matrix.custom.html"
    assert "Captured insight #1" in captured["body"]
    assert "<p>" in captured["formatted_body"] and "m.mentions" in captured
    assert not any("history before" in e for e in matrix.received)  # no replay on join

    source = room.say(ann, "Pair on the hard parts")
    await matrix.wait(source)
    react = {"m.relates_to": {"rel_type": "m.annotation", "event_id": source, "key": "💡"}}
    first = room.send(ann, react, "m.reaction")
    await matrix.wait(first)
    insight = await matrix.insight_for(source)
    assert insight is not None and insight.body == "Pair on the hard parts"
    assert insight.author_name.startswith("ann-")  # role from power level 100 applies
    bob = matrix.server.register("bob")
    matrix.server.request(
        "POST",
        f"/_matrix/client/v3/rooms/{quote(room.room_id)}/invite",
        {"user_id": bob.user_id},
        ann.access_token,
    )
    matrix.server.request(
        "POST", f"/_matrix/client/v3/join/{quote(room.room_id)}", {}, bob.access_token
    )
    second = room.send(bob, react, "m.reaction")
    await matrix.wait(second)
    again = await matrix.insight_for(source)
    assert again is not None and again.id == insight.id
    answers = room.replies_to(ann, source)
    assert "Captured insight" in answers[0]["body"] and "Already captured" in answers[1]["body"]

    found = await matrix.command("!search hard parts")
    assert f"https://matrix.to/#/{room.room_id}/{source}" in found["body"]

    edit = room.send(
        ann,
        {
            "msgtype": "m.text",
            "body": "* Pair on the hardest parts",
            "m.new_content": {"msgtype": "m.text", "body": "Pair on the hardest parts"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": source},
        },
    )
    await matrix.wait(edit)
    edited = await matrix.insight_for(source)
    assert edited is not None and edited.body == "Pair on the hardest parts"

    redaction = room.redact(ann, source)
    await matrix.wait(redaction)
    deleted = await matrix.insight_for(source)
    assert deleted is not None and deleted.source_deleted

    community = await matrix.hearth.services.directory.community_by_slug("guild")
    assert community is not None
    member = await matrix.hearth.services.directory.resolve_member(
        community.id, "matrix", ann.user_id, "ann"
    )
    assert member.role is Role.STEWARD


async def test_reply_command_captures_the_replied_message(matrix: Env) -> None:
    room, ann = matrix.room, matrix.ann
    target = room.say(ann, "Write the test first")
    await matrix.wait(target)
    reply = await matrix.command(
        "!insight #tdd", **{"m.relates_to": {"m.in_reply_to": {"event_id": target}}}
    )
    assert "Captured insight" in reply["body"]
    insight = await matrix.insight_for(target)
    assert insight is not None and insight.tags == ("tdd",)


async def test_html_injection_comes_back_sanitised(matrix: Env) -> None:
    room, ann = matrix.room, matrix.ann
    hostile = room.send(
        ann,
        {
            "msgtype": "m.text",
            "body": "Ship small @room",
            "format": "org.matrix.custom.html",
            "formatted_body": "<script>alert(1)</script><b>Ship small</b> @room "
            '<img src="x" onerror="alert(2)">',
        },
    )
    await matrix.wait(hostile)
    react = {"m.relates_to": {"rel_type": "m.annotation", "event_id": hostile, "key": "💡"}}
    await matrix.wait(room.send(ann, react, "m.reaction"))
    (answer,) = room.replies_to(ann, hostile)
    assert "Ship small" in answer["body"]
    assert "!insight retag" in answer["body"]  # hints use Matrix's command prefix
    for text in (answer["body"], answer["formatted_body"]):
        assert "<script" not in text and "onerror" not in text and "@room" not in text
    assert answer["m.mentions"] == {}


async def test_restart_handles_missed_events_once_and_replays_nothing(matrix: Env) -> None:
    room, ann = matrix.room, matrix.ann
    before = await matrix.command("!insight Before the restart #a")
    assert "Captured" in before["body"]
    assert matrix.adapter is not None
    await matrix.adapter.stop()
    matrix.adapter = None
    old = set(matrix.received)
    matrix.received.clear()

    missed = room.say(ann, "!insight Said while Hearth was down #b")
    await matrix.start_adapter()
    await matrix.wait(missed)
    assert matrix.received == [missed]  # nothing older came back
    assert not old & set(matrix.received)
    (answer,) = room.replies_to(ann, missed)
    assert "Captured insight #2" in answer["body"]


async def test_reconnects_after_the_homeserver_was_down_and_loses_nothing(
    database_url: str, tmp_path: Path
) -> None:
    """Why: a homeserver restart must cost nothing but time. Its own Synapse (the data
    directory kept, so users, rooms and stream positions survive) is SIGTERMed while the
    bot sits between two syncs with a command it has not yet seen; the sync loop retries
    with back-off (capped at 1s here, never a busy loop), and once the server is back the
    missed command and a new one are each answered exactly once."""
    from nio import SyncResponse

    require_synapse()
    data = synapse_data_dir()
    up: list[contextlib.AbstractContextManager[SynapseServer]] = []

    def start(port: int = 0) -> SynapseServer:
        manager = running_synapse(data, port)
        server = manager.__enter__()
        up.append(manager)
        return server

    def stop() -> None:
        up.pop().__exit__(None, None, None)  # SIGTERM, wait; the data directory stays

    try:
        server = start()
        port = int(server.url.rsplit(":", 1)[1])
        async with matrix_env(server, database_url, tmp_path, max_backoff_seconds=1) as env:
            room, ann, adapter = env.room, env.ann, env.adapter
            assert adapter is not None
            loop = asyncio.get_running_loop()
            real_sync = adapter.client.sync
            hold: list[asyncio.Future[None]] = []  # armed: the next sync waits for it
            parked = loop.create_future()  # the adapter is between two syncs
            outage = loop.create_future()  # enough failed syncs seen
            failed: list[float] = []  # loop.time() at the start of each failed sync

            async def sync(*args: Any, **kwargs: Any) -> Any:
                if hold and not hold[0].done():
                    if not parked.done():
                        parked.set_result(None)
                    await hold[0]
                started, response = loop.time(), None
                try:
                    response = await real_sync(*args, **kwargs)
                    return response
                finally:  # an error response or a raised connection error
                    if not isinstance(response, SyncResponse):
                        failed.append(started)
                        if len(failed) == 4 and not outage.done():
                            outage.set_result(None)

            adapter.client.sync = sync
            before = await env.command("!insight Said well before the outage #a")
            assert "Captured insight #1" in before["body"]

            hold.append(loop.create_future())
            room.say(ann, "Just chatting")  # ends the long poll in flight
            await asyncio.wait_for(parked, WAIT)
            missed = room.say(ann, "!insight Said just before the outage #y")
            await asyncio.to_thread(stop)
            hold[0].set_result(None)
            await asyncio.wait_for(outage, WAIT)
            down, elapsed = list(failed), loop.time() - failed[0]

            await asyncio.to_thread(start, port)
            await env.wait(missed)
            (answer,) = room.replies_to(ann, missed)
            assert "Captured insight #2" in answer["body"]
            found = await env.command("!search outage")
            assert "outage" in found["body"]

            gaps = [later - earlier for earlier, later in itertools.pairwise(down)]
            assert all(0.9 <= gap <= 3.5 for gap in gaps), gaps  # backed off, and capped
            assert len(down) <= elapsed / 0.9 + 1, (len(down), elapsed)
            assert env.received.count(missed) == 1
            assert len(env.received) == len(set(env.received))  # nothing replayed
            assert len(notices(room, ann)) == 3  # each command answered once, nothing else
    finally:
        while up:
            stop()
        shutil.rmtree(data, ignore_errors=True)


async def test_encrypted_room_is_told_once_when_encryption_is_off(
    synapse: SynapseServer,  # noqa: F811
    database_url: str,
    tmp_path: Path,
) -> None:
    """`encryption = false` behaves as an install without the `e2e` extra."""
    async with matrix_env(synapse, database_url, tmp_path, encryption=False) as matrix:
        await _told_once(matrix)


async def _told_once(matrix: Env) -> None:
    server, ann = matrix.server, matrix.ann
    created = server.request(
        "POST",
        "/_matrix/client/v3/createRoom",
        {
            "preset": "private_chat",
            "invite": [matrix.bot.user_id],
            "initial_state": [
                {
                    "type": "m.room.encryption",
                    "state_key": "",
                    "content": {"algorithm": "m.megolm.v1.aes-sha2"},
                }
            ],
        },
        ann.access_token,
    )
    secret = Room(server, created["room_id"])
    adapter = matrix.adapter
    assert adapter is not None
    await matrix.until(lambda: secret.room_id in adapter.client.rooms)
    await matrix.until(lambda: len(notices(secret, ann)) > 0)
    pretend = secret.say(ann, "!search anything")  # plain text, as if a client sent it
    await matrix.wait(pretend)
    said = notices(secret, ann)
    assert len(said) == 2 and "encrypted" in said[0]["body"]


async def test_command_and_bulb_in_a_thread_are_answered_in_that_thread(matrix: Env) -> None:
    """Why: an answer posted to the main timeline pulls a threaded conversation apart; a
    client shows the bot's notice in the thread only with rel_type m.thread and the root."""
    room, ann = matrix.room, matrix.ann
    root = room.say(ann, "How do we keep reviews fast?")
    await matrix.wait(root)
    inside = room.say(ann, "Review within the hour, in pairs", **in_thread(root))
    await matrix.wait(inside)

    reply = await matrix.command("!insight Threads keep talk together #threads", **in_thread(root))
    assert "Captured insight" in reply["body"]
    relation = reply["m.relates_to"]
    assert relation["rel_type"] == "m.thread" and relation["event_id"] == root
    assert relation["is_falling_back"] is False  # a real reply to the command

    react = {"m.relates_to": {"rel_type": "m.annotation", "event_id": inside, "key": "💡"}}
    await matrix.wait(room.send(ann, react, "m.reaction"))
    (answer,) = room.replies_to(ann, inside)
    assert "Captured insight" in answer["body"]
    assert answer["m.relates_to"]["rel_type"] == "m.thread"
    assert answer["m.relates_to"]["event_id"] == root
    insight = await matrix.insight_for(inside)
    assert insight is not None and insight.body == "Review within the hour, in pairs"

    path = (
        f"/_matrix/client/v1/rooms/{quote(room.room_id)}/relations/{quote(root)}/m.thread?limit=50"
    )
    threaded = matrix.server.request("GET", path, None, ann.access_token)["chunk"]
    from_bot = [e for e in threaded if e["sender"] == matrix.bot.user_id]
    assert len(from_bot) == 2  # both answers are in the thread, and nothing else the bot said


async def test_curator_command_follows_the_power_level_both_ways(matrix: Env) -> None:
    """Why: power levels are a Matrix room's only roles; a member at 0 must not export the
    community's knowledge, one raised to moderator (50) must not need anything else, and
    one lowered again must lose it (a removed moderator used to keep curator rights). A
    curator granted in Hearth stays one whatever the room says."""
    room, ann = matrix.room, matrix.ann
    refused = "Only curators can use !export."
    directory = matrix.hearth.services.directory
    community = await directory.community_by_slug("guild")
    assert community is not None
    bob, carol = matrix.join("bob"), matrix.join("carol")
    assert (await matrix.command("!export", who=bob))["body"] == refused
    assert not (matrix.hearth.services.export_dir).exists()

    path = f"/_matrix/client/v3/rooms/{quote(room.room_id)}/state/m.room.power_levels/"

    def set_level(who: MatrixUser, level: int) -> None:
        levels = matrix.server.request("GET", path, None, ann.access_token)
        levels.setdefault("users", {})[who.user_id] = level
        matrix.server.request("PUT", path, levels, ann.access_token)

    set_level(bob, 50)
    allowed = await matrix.command("!export", who=bob)
    assert "Exported 0 insight(s)" in allowed["body"]
    member = await directory.resolve_member(community.id, "matrix", bob.user_id, "bob")
    assert member.role is Role.CURATOR

    set_level(bob, 0)
    assert (await matrix.command("!export", who=bob))["body"] == refused

    set_level(bob, 100)  # a 💡 carries the sender's power level too
    source = room.say(ann, "Name the risk first")
    await matrix.wait(source)
    react = {"m.relates_to": {"rel_type": "m.annotation", "event_id": source, "key": "💡"}}
    reaction = room.send(bob, react, "m.reaction")
    await matrix.wait(reaction)
    member = await directory.resolve_member(community.id, "matrix", bob.user_id, "bob")
    assert member.role is Role.STEWARD

    await directory.assign_role(community.id, "matrix", carol.user_id, Role.CURATOR)
    assert (await matrix.command("!export", who=carol))["body"] != refused
    set_level(carol, 100)
    await matrix.command("!search anything", who=carol)
    set_level(carol, 0)
    assert (await matrix.command("!export", who=carol))["body"] != refused
    member = await directory.resolve_member(community.id, "matrix", carol.user_id, "carol")
    assert member.role is Role.CURATOR


async def test_rate_limited_replies_still_arrive_once(matrix: Env) -> None:
    """Synapse's own limiter at 1 event/s (burst 1, which the join may have used) for the
    bot: quick replies get 429 M_LIMIT_EXCEEDED; nio waits `retry_after_ms` and resends
    with the same transaction id, so every command is answered exactly once (late, never
    twice, never lost)."""
    from nio import RoomSendError

    room, ann, adapter = matrix.room, matrix.ann, matrix.adapter
    assert adapter is not None
    waits: list[int] = []

    async def limited(response: Any) -> None:
        if response.status_code == "M_LIMIT_EXCEEDED":
            waits.append(int(response.retry_after_ms or 0))

    adapter.client.add_response_callback(limited, RoomSendError)
    matrix.server.override_ratelimit(matrix.bot.user_id, messages_per_second=1, burst_count=1)
    # three quick commands: on a loaded machine two replies may still fall a second apart
    commands = [room.say(ann, f"!search nothing{n}") for n in range(3)]
    for event_id in commands:
        await matrix.wait(event_id)
    for event_id in commands:
        (reply,) = room.replies_to(ann, event_id)
        assert "nothing" in reply["body"]
    assert len(notices(room, ann)) == 3  # no duplicate anywhere
    assert waits and all(0 < ms <= 1000 for ms in waits), waits


async def test_rate_limit_beyond_the_retries_raises_rate_limited(matrix: Env) -> None:
    """Why: once nio's retries are spent (none allowed here) the caller gets a typed
    `RateLimited` carrying the server's wait, and the refused message is not posted at all."""
    from nio import AsyncClient, AsyncClientConfig

    from adapters.matrix.outbound import MatrixPort
    from bot.events import ChannelRef
    from bot.port import OutboundMessage, RateLimited

    room, bot = matrix.room, matrix.bot
    matrix.server.override_ratelimit(bot.user_id, messages_per_second=1, burst_count=1)
    client = AsyncClient(
        matrix.server.url, bot.user_id, config=AsyncClientConfig(max_limit_exceeded=0)
    )
    client.restore_login(bot.user_id, bot.device_id, bot.access_token)
    port = MatrixPort(client, matrix.server.server_name)
    channel = ChannelRef("matrix", matrix.server.server_name, room.room_id)
    sent: list[str] = []
    refused: RateLimited | None = None
    try:  # at 1/s with a burst of 1, one of two quick sends is refused (the bot's join counts)
        for n in range(2):
            try:
                await port.post(channel, OutboundMessage(f"notice {n}"))
            except RateLimited as exc:
                refused = exc
                break
            sent.append(f"notice {n}")
    finally:
        await client.close()
    assert refused is not None and 0 < refused.retry_after <= 1.0
    bodies = [n["body"] for n in notices(room, matrix.ann)]
    assert bodies == sent  # each sent notice once, the refused one not at all


# without a server ------------------------------------------------------------------


def test_errors_map_to_typed_failures() -> None:
    from nio import RoomSendError

    from adapters.matrix.errors import check
    from bot.port import Forbidden, RateLimited, TargetGone, Transient

    def error(code: str, **extra: Any) -> Any:
        return RoomSendError.from_dict({"errcode": code, "error": "no", **extra}, "!r:x")

    with pytest.raises(RateLimited) as limited:
        check(error("M_LIMIT_EXCEEDED", retry_after_ms=2500))
    assert limited.value.retry_after == 2.5
    with pytest.raises(Forbidden):
        check(error("M_FORBIDDEN"))
    with pytest.raises(TargetGone):
        check(error("M_NOT_FOUND"))
    with pytest.raises(Transient):
        check(error("M_UNKNOWN"))


def test_matrix_config() -> None:
    from pydantic import ValidationError

    from bot.config_matrix import inline_secrets

    with pytest.raises(ValidationError, match="access_token or password"):
        MatrixConfig(enabled=True, homeserver="https://m.example", user_id="@bot:example.org")
    config = MatrixConfig(
        enabled=True,
        homeserver="https://m.example",
        user_id="@bot:example.org",
        access_token="syt_x",
        allowed_rooms=["#guild:other.org"],
    )
    assert config.server_name == "example.org" and config.command_prefix == "!"
    assert [config.role_for(n) for n in (0, 50, 100)] == [
        Role.MEMBER,
        Role.CURATOR,
        Role.STEWARD,
    ]
    assert config.may_join("!a:x", "@ann:example.org")
    assert not config.may_join("!a:x", "@eve:evil.org")
    assert config.may_join("!a:x", "@eve:other.org", ["#guild:other.org"])
    assert inline_secrets({"access_token": "syt_x", "password": "${PW}"}) == ["access_token"]


async def test_a_room_bound_by_its_alias_answers_commands(
    synapse: SynapseServer,  # noqa: F811
    database_url: str,
    tmp_path: Path,
) -> None:
    from bot.channel_aliases import bind_aliases

    bot, ann = synapse.register("hearth"), synapse.register("ann")
    local = f"practice-{uuid.uuid4().hex[:6]}"
    created = synapse.request(
        "POST",
        "/_matrix/client/v3/createRoom",
        {"preset": "private_chat", "room_alias_name": local, "invite": [bot.user_id]},
        ann.access_token,
    )
    alias = f"#{local}:{synapse.server_name}"
    config = hearth_config(database_url, tmp_path, alias)
    hearth = await Hearth.open(config)
    env = Env(synapse, hearth, bot, ann, Room(synapse, created["room_id"]))
    try:
        adapter = await env.start_adapter()
        await bind_aliases(hearth.services.directory, config.communities, adapter)
        assert await adapter.resolve_alias(f"#nowhere-{local}:{synapse.server_name}") is None
        captured = await env.command("!insight Name rooms so people can find them #rooms")
        assert "Captured insight #1" in captured["body"]
    finally:
        if env.adapter is not None:
            await env.adapter.stop()
        await hearth.close()


async def _not_ready(adapter: MatrixAdapter) -> str:
    """Failed syncs, one after another, until the last success is too old to count."""
    failed = asyncio.Event()
    adapter.on_sync_failed = failed.set
    async with asyncio.timeout(60):
        while (reason := await adapter.readiness()) is None:
            failed.clear()
            await failed.wait()
    return reason


async def test_readiness_says_when_the_homeserver_is_unreachable_and_recovers(
    synapse: SynapseServer,  # noqa: F811
    database_url: str,
    tmp_path: Path,
) -> None:
    from urllib.parse import urlsplit

    from tests.fakes.tcp_proxy import TcpProxy

    target = urlsplit(synapse.url)
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 80)
    await proxy.start()
    overrides = {
        "homeserver": f"http://127.0.0.1:{proxy.port}",
        "sync_timeout_seconds": 1,
        "watchdog_interval_seconds": 0,
        "watchdog_timeout_seconds": 1,
        "max_backoff_seconds": 1,
    }
    try:
        async with matrix_env(synapse, database_url, tmp_path, **overrides) as env:
            adapter = env.adapter
            assert adapter is not None
            assert await adapter.readiness() is None
            await proxy.cut()  # the homeserver stops answering
            reason = await _not_ready(adapter)
            assert "no sync with the homeserver" in reason
            env.synced.clear()
            await proxy.restore()
            await asyncio.wait_for(env.synced.wait(), WAIT)  # the next sync that gets through
            assert await adapter.readiness() is None
            captured = await env.command("!insight Back after the outage #ops")
            assert "Captured insight" in captured["body"]
    finally:
        await proxy.cut()
