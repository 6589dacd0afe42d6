"""Discord DMs: a direct message to the bot belongs to the community of the guild the
person shares with it, and someone in several is asked once which one. Real discord.py
against the loopback gateway and REST (members looked up by REST, as without the members
intent)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from adapters.discord_gateway.adapter import DiscordAdapter
from adapters.discord_gateway.config import DiscordConfig
from bot.app import Hearth
from bot.direct import CHOICE_ID
from knowledge.inbound import InboundLog
from tests.fakes.discord_loopback import (
    ALICE,
    APP_ID,
    BOB,
    CHANNEL,
    GUILD,
    SECOND_CHANNEL,
    SECOND_GUILD,
    TOKEN,
    DiscordLoopback,
    serving,
)
from tests.harness.config_builder import Channel, Community, build_config

EPHEMERAL = 64
GUILD_COMMUNITY = Community(
    "guild", "The Guild", (Channel("discord", str(GUILD), str(CHANNEL)),), ("discord:1",)
)
FORGE = Community(
    "forge", "The Forge", (Channel("discord", str(SECOND_GUILD), str(SECOND_CHANNEL)),)
)


@pytest.fixture
async def loopback(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[DiscordLoopback]:
    async with serving(monkeypatch) as server:
        server.extra_guilds.append(SECOND_GUILD)
        yield server


@contextlib.asynccontextmanager
async def running(database_url: str, tmp_path: Path) -> AsyncIterator[DiscordAdapter]:
    config = build_config(database_url, tmp_path, GUILD_COMMUNITY, FORGE, console_user=None)
    hearth = await Hearth.open(config, timer=False)
    settings = DiscordConfig(enabled=True, token=TOKEN, application_id=APP_ID)
    adapter = DiscordAdapter(
        settings,
        suggestions=hearth.services.suggestions(),
        inbound_log=InboundLog(hearth.database),
        guild_ready_timeout=0.01,
    )
    task = asyncio.create_task(hearth.run([adapter]))
    try:
        await asyncio.wait_for(adapter.ready.wait(), 60)  # a hang guard
        yield adapter
        assert adapter.errors == []
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await hearth.close()


async def answer(server: DiscordLoopback, interaction: dict[str, Any]) -> dict[str, Any]:
    """What the person sees: the interaction's answer, or, when a slow machine made the
    command defer, the message that completed it."""
    first = (await server.callback(interaction)).body
    if first["type"] != 5:
        return dict(first["data"])
    hook = f"/webhooks/{APP_ID}/{interaction['token']}"
    calls = await server.wait_for(
        lambda: (
            server.find("PATCH", hook + "/messages/@original") or server.find("POST", hook + "$")
        )
    )
    return dict(calls[-1].body)


def text_option(name: str, value: str) -> list[dict[str, Any]]:
    return [{"type": 3, "name": name, "value": value}]


async def capture(server: DiscordLoopback, guild: int, channel: int, words: str) -> None:
    """Someone keeps an insight in a guild channel."""
    options = [{"type": 1, "name": "add", "options": text_option("text", words)}]
    interaction = await server.slash("insight", options, channel_id=channel, guild=guild)
    assert "Captured insight" in (await answer(server, interaction))["content"]


async def dm(
    server: DiscordLoopback, command: str, query: str, user: dict[str, Any] = ALICE
) -> dict[str, Any]:
    """A slash command in the person's DM with the bot; the answer's data."""
    interaction = await server.direct_slash(command, text_option("query", query), user)
    return await answer(server, interaction)


async def test_a_dm_belongs_to_the_community_of_the_one_guild_the_person_shares(
    database_url: str, tmp_path: Path, loopback: DiscordLoopback
) -> None:
    loopback.guild_members = {GUILD: {ALICE["id"]}}
    async with running(database_url, tmp_path):
        await capture(loopback, GUILD, CHANNEL, "Kiln logs go in the shared sheet")
        found = await dm(loopback, "search", "kiln")
        assert "Kiln" in found["content"] and "sheet" in found["content"]
        assert "components" not in found  # nobody had to choose


async def test_someone_in_two_guilds_is_asked_once_and_their_dms_stay_with_their_choice(
    database_url: str, tmp_path: Path, loopback: DiscordLoopback
) -> None:
    loopback.guild_members = {GUILD: {ALICE["id"]}, SECOND_GUILD: {ALICE["id"]}}
    async with running(database_url, tmp_path):
        await capture(loopback, GUILD, CHANNEL, "Kiln logs go in the shared sheet")
        await capture(loopback, SECOND_GUILD, SECOND_CHANNEL, "Anvils need oiling before winter")

        asked = await dm(loopback, "search", "anvils")
        assert "We share several communities: **The Forge**, **The Guild**" in asked["content"]
        assert asked["flags"] & EPHEMERAL
        menu = asked["components"][0]["components"][0]
        assert menu["custom_id"] == CHOICE_ID
        assert [(o["value"], o["label"]) for o in menu["options"]] == [
            ("forge", "The Forge"),
            ("guild", "The Guild"),
        ]

        pick = await loopback.direct_pick(CHOICE_ID, "forge")
        chosen = await answer(loopback, pick)
        assert "Our direct messages now belong to **The Forge**" in chosen["content"]
        assert "Anvils" in (await dm(loopback, "search", "anvils"))["content"]
        assert "No insights match" in (await dm(loopback, "search", "kiln"))["content"]


async def test_a_dm_from_someone_sharing_no_community_and_a_forged_pick_are_refused(
    database_url: str, tmp_path: Path, loopback: DiscordLoopback
) -> None:
    loopback.guild_members = {GUILD: {ALICE["id"]}}
    async with running(database_url, tmp_path):
        lonely = await dm(loopback, "search", "anything", BOB)
        assert "We share no Hearth community yet" in lonely["content"]
        assert lonely["flags"] & EPHEMERAL

        forged = await loopback.direct_pick(CHOICE_ID, "forge")  # Alice is not in the Forge
        refused = await answer(loopback, forged)
        assert "You are not in a community by that name with me" in refused["content"]
        still = await dm(loopback, "search", "anything")
        assert "No insights match" in still["content"]  # still the Guild's, not the Forge's
