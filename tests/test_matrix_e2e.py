"""Encrypted rooms, private replies by DM and authenticated media, on a real Synapse.

The members of the encrypted room use matrix-nio's own E2E client (tests/harness/
e2e_member.py), as Element would: they only ever see what they can decrypt. The other
room is unencrypted and read over plain HTTP. Waiting is on the adapter's reports and the
members' syncs, never on sleeps.
"""

from __future__ import annotations

import asyncio
import json
import re
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import pytest

from adapters.matrix import MatrixAdapter, MatrixConfig
from bot.app import Hearth
from bot.events import MessagePosted
from bot.ops.metrics import Metrics
from bot.ops.server import OpsServer
from knowledge.clock import ManualClock
from knowledge.inbound import InboundLog
from knowledge.sync_tokens import SyncTokens
from tests.fakes.synapse_server import MatrixUser, SynapseServer, in_thread, synapse  # noqa: F401
from tests.harness.e2e_member import E2EMember
from tests.harness.matrix_harness import Env, Room, matrix_env
from tests.harness.matrix_harness import hearth_config as adapter_hearth_config
from tests.test_relay_matrix import World, copy_of, hearth_config, messages, person, room_with

ENCRYPTION = {
    "type": "m.room.encryption",
    "state_key": "",
    "content": {"algorithm": "m.megolm.v1.aes-sha2"},
}


def encrypted_room(server: SynapseServer, owner: MatrixUser, *invited: MatrixUser) -> str:
    created = server.request(
        "POST",
        "/_matrix/client/v3/createRoom",
        {
            "preset": "private_chat",
            "invite": [m.user_id for m in invited],
            "initial_state": [ENCRYPTION],
        },
        owner.access_token,
    )
    return str(created["room_id"])


def direct_rooms(server: SynapseServer, bot: MatrixUser) -> dict[str, list[str]]:
    """The bot's `m.direct` account data: member → their DM rooms with it."""
    path = f"/_matrix/client/v3/user/{quote(bot.user_id)}/account_data/m.direct"
    return server.request("GET", path, None, bot.access_token)


def said_by(member: E2EMember, room_id: str, words: str) -> bool:
    return any(words in str(e["content"].get("body", "")) for e in member.seen(room_id))


async def test_encrypted_room_commands_relays_both_ways_and_a_restart(
    synapse: SynapseServer,  # noqa: F811
    database_url: str,
    tmp_path: Path,
) -> None:
    bot = synapse.register("hearth")
    ann_user, carl_user, bea = (
        person(synapse, "Ann"),
        person(synapse, "Carl"),
        person(synapse, "Bea"),
    )
    a = encrypted_room(synapse, ann_user, bot, carl_user)
    b = room_with(synapse, bea, bot)  # unencrypted, read over plain HTTP
    settings = hearth_config(database_url, tmp_path, a, b.room_id)
    clock = ManualClock(datetime(2026, 11, 29, 12, 0, tzinfo=UTC))
    world = World(
        synapse, settings, clock, bot, ann_user, carl_user, Room(synapse, a), bea, None, b
    )
    world.options = {"encryption": True}
    ann = E2EMember(synapse, ann_user, tmp_path / "ann-keys")
    carl = E2EMember(synapse, carl_user, tmp_path / "carl-keys")
    try:
        await ann.start()
        await carl.start()
        await carl.join(a)
        await world.start()
        assert world.adapter is not None and world.adapter.e2e.on
        await ann.knows_devices_of(bot.user_id, a)
        await carl.knows_devices_of(bot.user_id, a)

        # a command in the encrypted room is read and answered, encrypted
        asked = await ann.say(a, "!insight Rotate the signing key weekly #ops")
        await world.wait(asked)
        answer = await ann.reply_to(a, asked)
        assert "Captured insight" in answer["body"]
        from_bot = [e for e in messages(Room(synapse, a), ann_user) if e["sender"] == bot.user_id]
        assert from_bot and all(e["type"] != "m.room.message" for e in from_bot)  # never clear

        # the invitation code goes to Ann by DM (encrypted), never into the room
        invite = await ann.say(a, "!constellation invite for:forge")
        await world.wait(invite)
        await ann.until(lambda: bool(ann.invites))
        (dm,) = direct_rooms(synapse, bot)[ann_user.user_id]
        assert ann.invites == [dm]
        await ann.join(dm)
        await ann.until(lambda: said_by(ann, dm, "Invitation created"))
        (code,) = re.findall(r"HL-[A-Z0-9-]+", str(ann.seen(dm)))[-1:]
        assert not said_by(ann, a, code) and not said_by(carl, a, code)
        await world.command(b, bea, f"!constellation accept {code}")

        # encrypted → unencrypted
        root = await ann.say(a, "Rotate keys on Mondays")
        await world.wait(root)
        relay = await ann.say(a, "!relay", **in_thread(root))
        await world.wait(relay)
        await world.drain()
        copy = copy_of(b, bea, "Rotate keys on Mondays")

        # unencrypted → encrypted
        back = b.say(bea, "Mondays work for us", **in_thread(copy["event_id"]))
        await world.wait(back)
        await world.drain()
        await ann.until(lambda: said_by(ann, a, "Mondays work for us"))

        # a restart: the same device and keys; what was said meanwhile, both ways
        device = world.adapter.client.device_id
        identity = dict(world.adapter.client.olm.account.identity_keys)
        await world.stop()
        late = await carl.say(a, "Tuesday is safer", **in_thread(root))
        meanwhile = b.say(bea, "Either day is fine", **in_thread(copy["event_id"]))
        await world.start()
        assert world.adapter is not None
        assert world.adapter.client.device_id == device
        assert dict(world.adapter.client.olm.account.identity_keys) == identity
        await world.wait(late, meanwhile)
        await world.drain()
        assert "Tuesday is safer" in copy_of(b, bea, "Tuesday is safer")["content"]["body"]
        await ann.until(lambda: said_by(ann, a, "Either day is fine"))
        await carl.until(lambda: said_by(carl, a, "Either day is fine"))
        again = await carl.say(a, "!search signing key")
        await world.wait(again)
        assert "Rotate the signing key" in (await carl.reply_to(a, again))["body"]

        # the keys live in the store under the data directory, not in the database
        store = settings.hearth.export_dir.parent / "matrix-store"
        assert any(store.rglob("*.db"))
        assert not any(settings.hearth.export_dir.parent.glob("exports/**/*.db"))
        assert not ann.undecrypted and not carl.undecrypted
    finally:
        await world.stop()
        await ann.stop()
        await carl.stop()


async def test_listed_trust_answers_and_shares_keys_with_listed_devices_only(
    synapse: SynapseServer,  # noqa: F811
    database_url: str,
    tmp_path: Path,
) -> None:
    bot = synapse.register("hearth")
    ann_user, carl_user = person(synapse, "Ann"), person(synapse, "Carl")
    a = encrypted_room(synapse, ann_user, bot, carl_user)
    settings = hearth_config(database_url, tmp_path, a, None)
    clock = ManualClock(datetime(2026, 11, 29, 12, 0, tzinfo=UTC))
    world = World(synapse, settings, clock, bot, ann_user, carl_user, Room(synapse, a))
    world.options = {
        "encryption": True,
        "trust": "listed",
        "trusted_devices": [f"{ann_user.user_id}/{ann_user.device_id}"],
    }
    ann = E2EMember(synapse, ann_user, tmp_path / "ann-keys")
    carl = E2EMember(synapse, carl_user, tmp_path / "carl-keys")
    try:
        await ann.start()
        await carl.start()
        await carl.join(a)
        await world.start()
        await ann.knows_devices_of(bot.user_id, a)
        await carl.knows_devices_of(bot.user_id, a)

        ignored = await carl.say(a, "!insight Carl's device is not listed")
        asked = await ann.say(a, "!insight Only listed devices #ops")
        await world.wait(asked)
        answer = await ann.reply_to(a, asked)
        assert "Captured insight #1" in answer["body"]  # Carl's command captured nothing
        assert not [e for e in ann.seen(a) if ignored in str(e["content"].get("m.relates_to"))]
        await carl.until(lambda: bool(carl.undecrypted))  # the bot's answer: no key for Carl
        assert not said_by(carl, a, "Captured insight")
    finally:
        await world.stop()
        await ann.stop()
        await carl.stop()


async def test_a_password_login_keeps_its_device_and_keys_across_restarts(
    synapse: SynapseServer,  # noqa: F811
    database_url: str,
    tmp_path: Path,
) -> None:
    bot = synapse.register("hearth")
    hearth = await Hearth.open(adapter_hearth_config(database_url, tmp_path, "!none:hearth.test"))
    config = MatrixConfig(
        enabled=True,
        homeserver=synapse.url,
        user_id=bot.user_id,
        password=bot.password,
        store_path=tmp_path / "matrix-store",
    )
    seen: list[tuple[str, dict[str, str]]] = []
    try:
        for _ in range(2):
            adapter = MatrixAdapter(
                config, InboundLog(hearth.database), SyncTokens(hearth.database)
            )
            await adapter.connect()
            seen.append((adapter.client.device_id, dict(adapter.client.olm.account.identity_keys)))
            await adapter.client.close()
    finally:
        await hearth.close()
    assert seen[0] == seen[1]
    assert seen[0][0] != bot.device_id  # its own device, not the registration's
    devices = synapse.request("GET", "/_matrix/client/v3/devices", None, bot.access_token)
    hearths = [d["device_id"] for d in devices["devices"] if d.get("display_name") == "Hearth"]
    assert hearths == [seen[0][0]]  # two logins, one device


def test_trust_settings_are_checked_and_keys_need_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pydantic import ValidationError

    from adapters.matrix import e2e
    from bot.config_matrix import inline_secrets

    with pytest.raises(ValidationError, match="@user:server/DEVICEID"):
        MatrixConfig(trust="listed", trusted_devices=["ann"])
    assert inline_secrets({"store_passphrase": "hunter2"}) == ["store_passphrase"]
    assert inline_secrets({"store_passphrase": "${HEARTH_MATRIX_STORE_KEY}"}) == []
    assert not e2e.wanted(MatrixConfig(encryption=False))
    monkeypatch.setattr(e2e, "available", lambda: False)  # an install without the extra
    assert not e2e.wanted(MatrixConfig())
    assert e2e.client_config(MatrixConfig()).encryption_enabled is False


async def test_private_replies_go_to_one_dm_recognised_by_m_direct(
    synapse: SynapseServer,  # noqa: F811
    database_url: str,
    tmp_path: Path,
) -> None:
    """The room has two members (Ann and the bot), and is still not a DM. (Encryption
    off: Ann reads over plain HTTP; the encrypted DM is in the test above.)"""
    async with matrix_env(synapse, database_url, tmp_path, encryption=False) as matrix:
        await _private_replies(matrix)


async def _private_replies(matrix: Env) -> None:
    room, ann, server = matrix.room, matrix.ann, matrix.server
    first = room.say(ann, "!forget-me")
    await matrix.wait(first)
    assert room.replies_to(ann, first) == []  # nothing about Ann's data in the room
    (dm,) = direct_rooms(server, matrix.bot)[ann.user_id]
    server.request("POST", f"/_matrix/client/v3/join/{quote(dm)}", {}, ann.access_token)
    private = Room(server, dm)
    notices = lambda: [  # noqa: E731
        e["content"]["body"]
        for e in messages(private, ann)
        if e["type"] == "m.room.message" and e["content"].get("msgtype") == "m.notice"
    ]
    assert len(notices()) == 1 and "cannot be undone" in notices()[0]

    second = room.say(ann, "!forget-me")
    await matrix.wait(second)
    assert direct_rooms(server, matrix.bot)[ann.user_id] == [dm]  # created once, reused
    assert len(notices()) == 2

    confirm = private.say(ann, "!forget-me confirm")  # in the DM: bound by m.direct
    await matrix.wait(confirm)
    (done,) = private.replies_to(ann, confirm)
    assert done["body"].startswith("Done.")

    hint = room.say(ann, "!help")  # the two-member room answers in the room, as a room
    await matrix.wait(hint)
    assert len(room.replies_to(ann, hint)) == 1


def upload(server: SynapseServer, who: MatrixUser, data: bytes, name: str) -> str:
    request = urllib.request.Request(
        f"{server.url}/_matrix/media/v3/upload?{urlencode({'filename': name})}",
        data=data,
        method="POST",
    )
    request.add_header("Content-Type", "text/plain")
    request.add_header("Authorization", f"Bearer {who.access_token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        return str(json.loads(response.read())["content_uri"])


def fetch(url: str) -> tuple[int, bytes]:
    """A plain GET, as a browser would (blocking: run it off the loop Hearth serves on)."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


async def test_relayed_attachment_opens_through_hearth_with_authenticated_media(
    synapse: SynapseServer,  # noqa: F811
    database_url: str,
    tmp_path: Path,
) -> None:
    ops = OpsServer("127.0.0.1", 0, Metrics())
    await ops.start()
    try:
        async with matrix_env(synapse, database_url, tmp_path) as env:
            assert env.adapter is not None
            await env.adapter.stop()
            env.ops = ops
            await env.start_adapter()
            data = f"minutes of {uuid.uuid4().hex}".encode()
            mxc = upload(synapse, env.ann, data, "minutes.txt")
            server_name, media_id = mxc.removeprefix("mxc://").split("/")
            old = f"{synapse.url}/_matrix/media/v3/download/{server_name}/{media_id}"
            assert fetch(old)[0] in (401, 403, 404)  # the unauthenticated path is refused

            content: dict[str, Any] = {
                "msgtype": "m.file",
                "body": "minutes.txt",
                "url": mxc,
                "info": {"size": len(data), "mimetype": "text/plain"},
            }
            sent = env.room.send(env.ann, content)
            await env.wait(sent)
            assert env.recorder is not None
            (posted,) = [
                e
                for e in env.recorder.events
                if isinstance(e, MessagePosted) and e.message.ref.message_id == sent
            ]
            (attachment,) = posted.message.attachments
            assert attachment.url.startswith(f"http://127.0.0.1:{ops.port}/matrix/media?")
            assert await asyncio.to_thread(fetch, attachment.url) == (
                200,
                data,
            )  # anyone with the link, no token

            parts = urlsplit(attachment.url)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            other = {**query, "mxc": f"mxc://{server_name}/{media_id}x"}
            forged = f"http://127.0.0.1:{ops.port}/matrix/media?{urlencode(other)}"
            assert (await asyncio.to_thread(fetch, forged))[
                0
            ] == 403  # only files Hearth itself linked
    finally:
        await ops.stop()
