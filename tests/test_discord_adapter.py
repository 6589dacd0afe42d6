"""The Discord adapter end to end: real discord.py against a loopback gateway and REST API."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from adapters.discord_gateway.adapter import DiscordAdapter
from adapters.discord_gateway.admin import PERMISSIONS, invite_url, sync_commands
from adapters.discord_gateway.commands import application_commands
from adapters.discord_gateway.config import DiscordConfig
from bot.app import Hearth
from bot.commands.table import build_command_table
from bot.events import ChannelRef, MessagePosted, MessageRef
from bot.port import DeliveryError, OutboundMessage, RateLimited
from knowledge.inbound import InboundLog
from knowledge.vocabulary import Role
from tests.fakes.discord_loopback import (
    ALICE,
    APP_ID,
    BOB,
    CHANNEL,
    CURATOR_ROLE,
    GUILD,
    MANAGE_GUILD,
    OTHER_CHANNEL,
    STEWARD_ROLE,
    THREAD,
    TOKEN,
    DiscordLoopback,
    serving,
)
from tests.harness.config_builder import Channel, Community, build_config

EPHEMERAL = 64


@pytest.fixture
async def loopback(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[DiscordLoopback]:
    async with serving(monkeypatch) as server:
        yield server


@dataclass
class Running:
    hearth: Hearth
    adapter: DiscordAdapter
    server: DiscordLoopback


@contextlib.asynccontextmanager
async def running(
    database_url: str,
    tmp_path: Path,
    server: DiscordLoopback,
    client: dict[str, Any] | None = None,
    **discord: Any,
) -> AsyncIterator[Running]:
    """Hearth with the Discord adapter, on this event loop, until the block ends."""
    guild = Community(
        "guild",
        "The Guild",
        (Channel("discord", str(GUILD), str(CHANNEL)),),
        (f"discord:{ALICE['id']}",),
    )
    config = build_config(database_url, tmp_path, guild, console_user=None)
    hearth = await Hearth.open(config, timer=False)
    # The most time Discord allows before a command is deferred: a test that expects the
    # immediate answer (type 4) must not get a deferral on a busy machine (xdist, CI).
    discord = {"defer_after_seconds": 2.8, **discord}
    settings = DiscordConfig(enabled=True, token=TOKEN, application_id=APP_ID, **discord)
    adapter = DiscordAdapter(
        settings,
        suggestions=hearth.services.suggestions(),
        inbound_log=InboundLog(hearth.database),
        guild_ready_timeout=0.01,
        **(client or {}),
    )
    task = asyncio.create_task(hearth.run([adapter]))
    try:
        await asyncio.wait_for(adapter.ready.wait(), 60)  # a hang guard
        yield Running(hearth, adapter, server)
        assert adapter.errors == []
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await hearth.close()


def _content(call: Any) -> str:
    return str(call.body["data"]["content"])


def after(target: object, method: str, times: int = 1) -> asyncio.Future[None]:
    """A future done once `target.method` has finished `times` calls (no sleeping)."""
    original = getattr(target, method)
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    calls = 0

    async def wrapped(*args: Any) -> Any:
        nonlocal calls
        result = await original(*args)
        calls += 1
        if calls >= times and not done.done():
            done.set_result(None)
        return result

    setattr(target, method, wrapped)
    return done


def sub(name: str, **values: Any) -> list[dict[str, Any]]:
    """Slash-command options: one subcommand with string/integer values."""
    options = [
        {"type": 4 if isinstance(v, int) else 3, "name": k, "value": v} for k, v in values.items()
    ]
    return [{"type": 1, "name": name, "options": options}]


HERE = ChannelRef("discord", str(GUILD), str(CHANNEL))


async def test_slash_command_captures_and_answers_without_mentions(
    database_url: str, tmp_path: Path, loopback: DiscordLoopback
) -> None:
    async with running(database_url, tmp_path, loopback) as bot:
        interaction = await loopback.slash(
            "insight",
            [
                {
                    "type": 1,
                    "name": "add",
                    "options": [
                        {
                            "type": 3,
                            "name": "text",
                            "value": "Small PRs get reviewed @everyone #review",
                        }
                    ],
                }
            ],
        )
        call = await loopback.callback(interaction)
        assert call.body["type"] == 4
        assert "Captured insight #1" in _content(call)
        assert call.body["data"]["allowed_mentions"] == {"parse": []}
        assert not call.body["data"].get("flags", 0) & EPHEMERAL
        insight = await bot.hearth.services.insights.get(1, 1)
        assert insight.tags == ("review",)
        assert bot.adapter.errors == []


async def test_mistakes_and_lookups_are_answered_only_to_the_caller(
    database_url: str, tmp_path: Path, loopback: DiscordLoopback
) -> None:
    async with running(database_url, tmp_path, loopback):
        call = await loopback.callback(await loopback.slash("insight", sub("show", id=99)))
        assert call.body["data"]["flags"] & EPHEMERAL
        assert "99" in _content(call)


async def test_bulb_reaction_captures_once_and_replies_without_mentions(
    database_url: str, tmp_path: Path, loopback: DiscordLoopback
) -> None:
    async with running(database_url, tmp_path, loopback) as bot:
        source = await loopback.say("Ship small, ship often @here")
        # The first capture is awaited: discord.py handles events concurrently.
        captured = after(bot.adapter, "on_reaction")
        await loopback.react(source, "💡", BOB)
        await captured
        reacted = after(bot.adapter, "on_reaction", times=2)
        await loopback.react(source, "💡", BOB)  # re-added: the same event, handled once
        await loopback.react(source, "💡", ALICE)
        await reacted
        posts = loopback.find("POST", f"^/channels/{CHANNEL}/messages$")
        assert len(posts) == 2
        assert "Captured insight #1" in posts[0].body["content"]
        assert "Already captured as insight #1" in posts[1].body["content"]
        for post in posts:
            assert post.body["allowed_mentions"] == {"parse": []}
            assert str(post.body["message_reference"]["message_id"]) == source["id"]
        insight = await bot.hearth.services.insights.get(1, 1)
        assert insight.body == "Ship small, ship often @here"
        assert insight.author_name == "Alice"
        assert insight.permalink == f"https://discord.com/channels/{GUILD}/{CHANNEL}/{source['id']}"


async def test_save_as_insight_menu_opens_a_modal_with_hashtags_and_captures(
    database_url: str, tmp_path: Path, loopback: DiscordLoopback
) -> None:
    async with running(database_url, tmp_path, loopback) as bot:
        source = await loopback.say("Pair on the scary bits #pairing #Review")
        data = {
            "id": "2",
            "name": "Save as insight",
            "type": 3,
            "guild_id": str(GUILD),
            "target_id": source["id"],
            "resolved": {"messages": {source["id"]: source}},
        }
        opened = loopback.interaction(data, user=BOB)
        await loopback.dispatch("INTERACTION_CREATE", opened)
        modal = await loopback.callback(opened)
        assert modal.body["type"] == 9
        fields = {
            c["custom_id"]: c for row in modal.body["data"]["components"] for c in row["components"]
        }
        assert fields["tags"]["value"] == "#pairing #Review"
        submitted = loopback.interaction(
            {
                "custom_id": modal.body["data"]["custom_id"],
                "components": [
                    {
                        "type": 1,
                        "components": [{"type": 4, "custom_id": "title", "value": "Pairing"}],
                    },
                    {
                        "type": 1,
                        "components": [
                            {"type": 4, "custom_id": "tags", "value": "#pairing review"}
                        ],
                    },
                ],
            },
            kind=5,
            user=BOB,
        )
        await loopback.dispatch("INTERACTION_CREATE", submitted)
        answer = await loopback.callback(submitted)
        assert "Captured insight #1" in _content(answer)
        insight = await bot.hearth.services.insights.get(1, 1)
        assert (insight.title, insight.tags) == ("Pairing", ("pairing", "review"))
        assert insight.author_name == "Alice" and insight.curator_name == "Bob"


async def test_edits_and_deletions_of_a_captured_source_are_followed(
    database_url: str, tmp_path: Path, loopback: DiscordLoopback
) -> None:
    async with running(database_url, tmp_path, loopback) as bot:
        source = await loopback.say("Retros need owners")
        reacted = after(bot.adapter, "on_reaction")
        await loopback.react(source, "💡")
        await reacted
        edited = after(bot.adapter, "on_edit")
        await loopback.edit(source, "Retro actions need owners")
        await edited
        insight = await bot.hearth.services.insights.get(1, 1)
        assert (insight.body, insight.revisions) == ("Retro actions need owners", 1)
        deleted = after(bot.adapter, "on_delete")
        await loopback.delete(source)
        await deleted
        assert (await bot.hearth.services.insights.get(1, 1)).source_deleted


async def test_thread_messages_and_replies_map_to_the_bound_channel(
    database_url: str, tmp_path: Path, loopback: DiscordLoopback, monkeypatch: Any
) -> None:
    async with running(database_url, tmp_path, loopback) as bot:
        seen: list[MessagePosted] = []

        async def message_posted(event: MessagePosted, port: object) -> None:
            seen.append(event)

        monkeypatch.setattr(bot.hearth.inbound, "message_posted", message_posted)
        # One at a time: discord.py handles events concurrently, so `seen` keeps their order.
        posted = after(bot.adapter, "on_message")
        first = await loopback.say("In a thread", channel_id=THREAD)
        await posted
        answered = after(bot.adapter, "on_message")
        await loopback.say("Answer", author=BOB, channel_id=THREAD, reply_to=int(first["id"]))
        await answered
        ref = seen[0].message.ref
        assert (ref.channel, ref.thread_id) == (HERE, str(THREAD))
        assert seen[0].message.permalink == (
            f"https://discord.com/channels/{GUILD}/{THREAD}/{first['id']}"
        )
        assert seen[1].reply_to == MessageRef(HERE, first["id"], str(THREAD))
        reacted = after(bot.adapter, "on_reaction")
        await loopback.react(first, "💡")
        await reacted
        insight = await bot.hearth.services.insights.get(1, 1)
        assert insight.source_channel == str(CHANNEL)
        assert bot.adapter.resolve_reference(str(insight.permalink), HERE) == ref
        assert bot.adapter.resolve_reference(first["id"], HERE) == MessageRef(HERE, first["id"])
        other_guild = f"https://discord.com/channels/1/{CHANNEL}/{first['id']}"
        assert bot.adapter.resolve_reference(other_guild, HERE) is None


async def test_a_command_sent_while_reconnecting_is_answered_once_after_resume(
    database_url: str, tmp_path: Path, loopback: DiscordLoopback
) -> None:
    async with running(database_url, tmp_path, loopback) as bot:
        await loopback.drop()
        handled = after(bot.adapter.interactions, "handle", times=2)
        interaction = await loopback.slash("insight", sub("add", text="Said while offline"))
        await loopback.wait_for(lambda: loopback.resumes())
        await loopback.callback(interaction)
        await loopback.dispatch("INTERACTION_CREATE", interaction)  # delivered again
        await handled
        callbacks = loopback.find("POST", f"/interactions/{interaction['id']}/", status=None)
        assert len(callbacks) == 1
        assert "Captured insight #1" in _content(callbacks[0])
        assert len(loopback.identifies()) == 1  # resumed, not a new session


async def test_slow_commands_are_deferred_then_completed(
    database_url: str, tmp_path: Path, loopback: DiscordLoopback
) -> None:
    async with running(database_url, tmp_path, loopback, defer_after_seconds=0):
        public = await loopback.slash("insight", sub("add", text="Deferred but public"))
        assert (await loopback.callback(public)).body["type"] == 5
        (edit,) = await loopback.wait_call("PATCH", f"/webhooks/{APP_ID}/{public['token']}/")
        assert "Captured insight #1" in edit.body["content"]
        assert edit.body["allowed_mentions"] == {"parse": []}
        private = await loopback.slash("insight", sub("show", id=42))
        assert (await loopback.callback(private)).body["type"] == 5
        await loopback.wait_call(
            "DELETE", f"/webhooks/{APP_ID}/{private['token']}/messages/@original"
        )
        (followup,) = await loopback.wait_call("POST", f"/webhooks/{APP_ID}/{private['token']}$")
        assert followup.body["flags"] & EPHEMERAL


async def test_discord_roles_and_manage_server_grant_hearth_roles(
    database_url: str, tmp_path: Path, loopback: DiscordLoopback
) -> None:
    async with running(database_url, tmp_path, loopback):
        plain = await loopback.callback(await loopback.slash("export", user=BOB))
        assert "Only curators" in _content(plain)
        curator = await loopback.slash("export", user=BOB, roles=(CURATOR_ROLE,))
        assert "Only curators" not in _content(await loopback.callback(curator))
        carol = {**BOB, "id": "1000000000000000012", "username": "carol"}
        admin = await loopback.slash(
            "ritual",
            sub("add", spec="weekly on monday at 10:00"),
            user=carol,
            permissions=MANAGE_GUILD,
        )
        assert "Only curators" not in _content(await loopback.callback(admin))


async def test_a_role_discord_takes_back_is_gone_and_the_configs_stays(
    database_url: str, tmp_path: Path, loopback: DiscordLoopback
) -> None:
    """Why: a curator whose Discord role is removed must lose curator rights (not keep
    them forever), a steward named in the config keeps theirs whatever Discord says, and
    a reaction that does not say who the member is changes nothing."""
    refused = "Only curators can use /export."

    async def export(user: dict[str, Any], **how: Any) -> str:
        return _content(await loopback.callback(await loopback.slash("export", user=user, **how)))

    async with running(database_url, tmp_path, loopback) as bot:
        assert await export(BOB, roles=(CURATOR_ROLE,)) != refused
        assert await export(BOB) == refused
        carol = {**BOB, "id": "1000000000000000012", "username": "carol"}
        assert await export(carol, permissions=MANAGE_GUILD) != refused
        assert await export(carol) == refused
        assert await export(ALICE, roles=(CURATOR_ROLE,)) != refused  # config: steward
        assert await export(ALICE) != refused

        directory = bot.hearth.services.directory
        community = await directory.community_by_slug("guild")
        assert community is not None

        async def role_after_reaction(roles: tuple[int, ...] | None) -> Role:
            source = await loopback.say("Small steps")
            reacted = after(bot.adapter, "on_reaction")
            await loopback.react(source, "💡", BOB, roles=roles)
            await reacted
            member = await directory.resolve_member(community.id, "discord", BOB["id"], "")
            return member.role

        assert await role_after_reaction((CURATOR_ROLE,)) is Role.CURATOR
        assert await role_after_reaction(None) is Role.CURATOR  # no member: unknown
        assert await role_after_reaction(()) is Role.MEMBER
        assert await role_after_reaction((STEWARD_ROLE,)) is Role.STEWARD
        # A role missing from the cache could be the one named "Steward": unknown.
        uncached = 1_000_000_000_000_000_499
        assert await role_after_reaction((uncached,)) is Role.STEWARD
        assert await export(BOB, roles=(uncached,)) != refused
        assert await export(BOB) == refused


async def test_autocomplete_offers_the_communitys_tags(
    database_url: str, tmp_path: Path, loopback: DiscordLoopback
) -> None:
    async with running(database_url, tmp_path, loopback):
        for text in ("One #review", "Two #retro", "Three #pairing"):
            await loopback.callback(await loopback.slash("insight", sub("add", text=text)))
        data = {
            "id": "1",
            "name": "search",
            "type": 1,
            "options": [{"type": 3, "name": "tag", "value": "re", "focused": True}],
        }
        asked = loopback.interaction(data, kind=4)
        await loopback.dispatch("INTERACTION_CREATE", asked)
        answer = await loopback.callback(asked)
        assert answer.body["type"] == 8
        assert sorted(c["value"] for c in answer.body["data"]["choices"]) == ["retro", "review"]


async def test_posting_is_retried_after_a_429_and_long_waits_become_rate_limited(
    database_url: str, tmp_path: Path, loopback: DiscordLoopback
) -> None:
    async with running(
        database_url, tmp_path, loopback, client={"max_ratelimit_timeout": 30.0}
    ) as bot:
        loopback.rate_limit_next("POST", f"^/channels/{CHANNEL}/messages$", retry_after=0.01)
        ref = await bot.adapter.post(HERE, OutboundMessage("Hello <@123> @everyone"))
        calls = loopback.find("POST", f"^/channels/{CHANNEL}/messages$", status=None)
        assert [c.status for c in calls] == [429, 200]
        assert calls[1].body["allowed_mentions"] == {"parse": []}
        assert ref.message_id == str(max(loopback.messages))
        loopback.rate_limit_next("POST", f"^/channels/{CHANNEL}/messages$", retry_after=120)
        try:
            await bot.adapter.post(HERE, OutboundMessage("later"))
        except RateLimited as exc:
            assert exc.retry_after == 120
        else:
            raise AssertionError("expected RateLimited")


async def test_sync_commands_registers_the_table_with_typed_options(
    loopback: DiscordLoopback,
) -> None:
    config = DiscordConfig(token=TOKEN, application_id=APP_ID, dev_guild_ids=[GUILD])
    count = len(application_commands(build_command_table()))  # the table grows; count it
    assert await sync_commands(config, build_command_table()) == [
        f"guild {GUILD}: {count} commands"
    ]
    commands = {c["name"]: c for c in loopback.commands[str(GUILD)]}
    assert commands["Save as insight"]["type"] == 3
    insight = {o["name"]: o for o in commands["insight"]["options"]}
    assert [o["type"] for o in insight["add"]["options"]] == [3, 3]
    assert insight["show"]["options"][0] == {
        "type": 4,
        "name": "id",
        "description": "the insight's number, e.g. 12",
        "required": True,
        "min_value": 0,
    }
    search = {o["name"]: o for o in commands["search"]["options"]}
    assert search["tag"]["autocomplete"] is True
    ritual = {o["name"]: o for o in commands["ritual"]["options"]}
    assert ritual["pause"]["options"][0]["autocomplete"] is True
    reminders = ritual["reminders"]["options"][0]
    assert reminders["choices"] == [{"name": "on", "value": "on"}, {"name": "off", "value": "off"}]
    for command in commands.values():
        required = [o.get("required", False) for o in command.get("options", [])]
        assert required == sorted(required, reverse=True)  # required options first
    await sync_commands(DiscordConfig(token=TOKEN, application_id=APP_ID), build_command_table())
    assert len(loopback.commands["global"]) == count


def test_invite_url_asks_for_exactly_what_the_adapter_uses() -> None:
    url = invite_url(APP_ID)
    assert url.startswith("https://discord.com/oauth2/authorize?")
    assert f"client_id={APP_ID}" in url and "scope=bot+applications.commands" in url
    assert f"permissions={PERMISSIONS.value}" in url
    assert not PERMISSIONS.administrator and not PERMISSIONS.mention_everyone
    assert PERMISSIONS.add_reactions and PERMISSIONS.send_messages_in_threads
    assert PERMISSIONS.manage_webhooks  # relayed copies post through a channel webhook


async def test_runs_sharded_with_the_recommended_shard_count(
    sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQLite only: discord.py waits 5 s between shards' IDENTIFYs, as Discord asks."""
    shutil.copy(sqlite_template, tmp_path / "hearth.db")
    database_url = f"sqlite:///{tmp_path / 'hearth.db'}"
    async with (
        serving(monkeypatch, shards=2) as server,
        running(database_url, tmp_path, server) as bot,
    ):
        assert sorted(i["d"]["shard"] for i in server.identifies()) == [[0, 2], [1, 2]]
        assert bot.adapter.client.shard_count == 2
        call = await server.callback(await server.slash("insight", sub("add", text="Sharded")))
        assert "Captured insight #1" in _content(call)


async def test_two_processes_split_the_shards_and_each_serves_its_own_guilds(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`shard_ids` [0] and [1] of 2: each instance identifies once, with its own shard; the
    guild's events reach only the instance running the guild's shard."""
    async with (
        serving(monkeypatch, shards=2) as server,
        running(database_url, tmp_path, server, shard_count=2, shard_ids=[0]) as first,
        running(database_url, tmp_path, server, shard_count=2, shard_ids=[1]) as second,
    ):
        assert sorted(i["d"]["shard"] for i in server.identifies()) == [[0, 2], [1, 2]]
        bots = (first, second)
        assert [b.adapter.client.shard_ids for b in bots] == [[0], [1]]
        owner = bots[server.guild_shard]
        assert [b.adapter.client.get_guild(GUILD) is not None for b in bots] == [
            b is owner for b in bots
        ]
        call = await server.callback(await server.slash("insight", sub("add", text="Split")))
        assert "Captured insight #1" in _content(call)
        assert len(server.find("POST", "/interactions/", status=None)) == 1


async def test_long_posts_are_split_and_thread_posts_go_to_the_thread(
    database_url: str, tmp_path: Path, loopback: DiscordLoopback
) -> None:
    async with running(database_url, tmp_path, loopback) as bot:
        text = "\n".join(f"line {n} " + "x" * 90 for n in range(45))  # about 4,500 characters
        ref = await bot.adapter.post(HERE, OutboundMessage(text))
        parts = loopback.find("POST", f"^/channels/{CHANNEL}/messages$")
        assert len(parts) == 3 and all(len(p.body["content"]) <= 2000 for p in parts)
        assert "\n".join(p.body["content"] for p in parts) == text
        first = min(
            int(m) for m, v in loopback.messages.items() if v["content"].startswith("line 0")
        )
        assert ref.message_id == str(first)  # the ref names the first part
        starter = MessageRef(HERE, ref.message_id, str(THREAD))
        in_thread = await bot.adapter.post(HERE, OutboundMessage("In the thread"), thread=starter)
        assert in_thread.thread_id == str(THREAD)
        assert loopback.find("POST", f"^/channels/{THREAD}/messages$")
        fetched = await bot.adapter.fetch_message(in_thread)
        assert fetched.text == "In the thread"
        assert (
            fetched.permalink
            == f"https://discord.com/channels/{GUILD}/{THREAD}/{in_thread.message_id}"
        )


async def test_threads_are_opened_on_a_message_and_read_back(
    database_url: str, tmp_path: Path, loopback: DiscordLoopback
) -> None:
    async with running(database_url, tmp_path, loopback) as bot:
        prompt = await bot.adapter.post(HERE, OutboundMessage("What went well?"))
        answer = await bot.adapter.post(
            HERE, OutboundMessage("Pairing"), thread=MessageRef(HERE, prompt.message_id)
        )
        assert loopback.find("POST", f"^/channels/{CHANNEL}/messages/{prompt.message_id}/threads$")
        assert answer.thread_id == prompt.message_id
        assert loopback.messages[int(answer.message_id)]["channel_id"] == prompt.message_id
        thread = await bot.adapter.fetch_thread(MessageRef(HERE, prompt.message_id))
        assert [m.text for m in thread] == ["What went well?", "Pairing"]
        with pytest.raises(DeliveryError):
            await bot.adapter.post(HERE, OutboundMessage("only you", ephemeral=True))
        assert bot.adapter.resolve_channel("here", HERE) == HERE
        assert bot.adapter.resolve_channel("#other", HERE) == ChannelRef(
            "discord", str(GUILD), str(OTHER_CHANNEL)
        )
        assert bot.adapter.resolve_channel(f"<#{CHANNEL}>", HERE) == HERE
        assert bot.adapter.resolve_channel("#nowhere", HERE) is None


def test_config_needs_token_and_application_when_enabled_and_maps_roles_per_guild() -> None:
    with pytest.raises(ValueError, match="token and application_id"):
        DiscordConfig(enabled=True, token="${HEARTH_DISCORD_TOKEN}")
    config = DiscordConfig.model_validate(
        {"guilds": {"42": {"curator_roles": ["Gardener"], "steward_roles": ["Elder"]}}}
    )
    assert config.roles_for("42").steward_roles == ["Elder"]
    assert config.roles_for("7").curator_roles == ["Curator"]
