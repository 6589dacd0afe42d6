"""A direct message to Hearth on Matrix when the homeserver holds two communities: Matrix
has no menus, so the question lists them by number and the person answers by typing in
that DM, against a real Synapse; the command then runs in the community they chose."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.app import Hearth
from tests.fakes.synapse_server import SynapseServer, synapse  # noqa: F401
from tests.harness.config_builder import Channel, Community, build_config
from tests.harness.matrix_harness import Env, Room


def room_with_bot(server: SynapseServer, owner: Any, bot: Any, **extra: Any) -> Room:
    created = server.request(
        "POST",
        "/_matrix/client/v3/createRoom",
        {"preset": "private_chat", "invite": [bot.user_id], **extra},
        owner.access_token,
    )
    return Room(server, created["room_id"])


@pytest.fixture
async def two(
    synapse: SynapseServer,  # noqa: F811
    database_url: str,
    tmp_path: Path,
) -> AsyncIterator[tuple[Env, Room, Room]]:
    """The Guild's room and the Forge's room on one homeserver, and Ann's DM with Hearth."""
    bot, ann = synapse.register("hearth"), synapse.register("ann")
    guild_room = room_with_bot(synapse, ann, bot, name="practice")
    forge_room = room_with_bot(synapse, ann, bot, name="forge")
    server = synapse.server_name
    config = build_config(
        database_url,
        tmp_path,
        Community("guild", "The Guild", (Channel("matrix", server, guild_room.room_id),)),
        Community("forge", "The Forge", (Channel("matrix", server, forge_room.room_id),)),
        console_user=None,
    )
    hearth = await Hearth.open(config)
    env = Env(synapse, hearth, bot, ann, guild_room)
    try:
        adapter = await env.start_adapter(encryption=False)
        dm = room_with_bot(synapse, ann, bot, is_direct=True, preset="trusted_private_chat")
        await env.until(lambda: adapter.directs.is_direct(dm.room_id))
        await env.until(lambda: dm.room_id in adapter.client.rooms)
        yield env, dm, forge_room
    finally:
        if env.adapter is not None:
            await env.adapter.stop()
        await hearth.close()


async def said(env: Env, room: Room, text: str) -> str:
    """Ann writes in `room`; what Hearth answered her there."""
    event_id = room.say(env.ann, text)
    await env.wait(event_id)
    replies = room.replies_to(env.ann, event_id)
    assert len(replies) == 1, replies
    return str(replies[0]["body"])


async def test_a_dm_picks_its_community_by_typing_and_then_runs_commands_there(
    two: tuple[Env, Room, Room],
) -> None:
    env, dm, forge_room = two
    asked = await said(env, dm, "!insight Oil the hinges weekly #upkeep")
    assert "We share several communities" in asked
    assert "1. The Forge (forge)\n2. The Guild (guild)" in asked
    assert "Reply here with its number or name." in asked

    wrong = await said(env, dm, "7")
    assert wrong == (
        "“7” is not one of the communities I listed: reply with a number from 1 to 2, "
        "or one of forge, guild."
    )
    assert "is not one of the communities" in await said(env, dm, "the smithy")

    picked = await said(env, dm, "1")
    assert "Our direct messages now belong to" in picked and "The Forge" in picked

    captured = await said(env, dm, "!insight Oil the hinges weekly #upkeep")
    assert "Captured insight" in captured
    found = await said(env, forge_room, "!search hinges")  # the Forge's own room sees it
    assert "1 insight(s) match" in found and "#upkeep" in found
    assert "No insights match" in await said(env, env.room, "!search hinges")  # not the Guild's

    # the DM now belongs to the Forge: a number there is an ordinary message, not a pick
    event_id = dm.say(env.ann, "2")
    await env.wait(event_id)
    assert dm.replies_to(env.ann, event_id) == []
    assert "Captured insight" in await said(env, dm, "!insight Sweep the yard #upkeep")
