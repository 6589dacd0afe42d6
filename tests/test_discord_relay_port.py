"""Relayed copies on Discord, end to end: real discord.py against the loopback server.

What a reader on Discord sees is asserted from what the loopback recorded: the webhook's
username and avatar, the content (no live mention), and which endpoint edited or deleted.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from adapters.discord_gateway.text import key_mark, key_nonce, visible, webhook_username
from bot.events import Attachment, ChannelRef, MessageEdited, MessagePosted, MessageRef
from bot.port import Attribution, OutboundMessage, TargetGone
from bot.text import from_discord
from tests.fakes.discord_loopback import (
    ALICE,
    BOB,
    CHANNEL,
    CURATOR_ROLE,
    OTHER_CHANNEL,
    THREAD,
    DiscordLoopback,
    serving,
)
from tests.test_discord_adapter import HERE, after, running

ADA = Attribution(
    author="Ada",
    community="Matrix Folk",
    avatar_url="https://example.org/ada.png",
    link="https://matrix.to/#/!room:example.org/$event",
)
ORIGINAL = f"Ping <@{BOB['id']}> and <@&{CURATOR_ROLE}> @everyone @here: **ship it**"


def relayed(markup: str = ORIGINAL, **how: Any) -> OutboundMessage:
    """A relayed copy as the relay core builds it: the original's document and who said it."""
    return OutboundMessage(
        text="", attribution=how.pop("attribution", ADA), document=from_discord(markup), **how
    )


@pytest.fixture
async def loopback(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[DiscordLoopback]:
    async with serving(monkeypatch) as server:
        yield server


def executions(loopback: DiscordLoopback, status: int | None = 200) -> list[Any]:
    return loopback.find("POST", r"^/webhooks/\d+/webhook-token-\d+$", status=status)


def assert_no_live_mentions(content: str) -> None:
    assert "<@" not in content  # no user or role mention syntax at all
    assert "@everyone" not in content and "@here" not in content  # defused with a ZWSP


async def test_relayed_copies_post_through_one_reused_webhook_under_the_authors_name(
    database_url: str, tmp_path: Path, loopback: DiscordLoopback
) -> None:
    async with running(database_url, tmp_path, loopback) as bot:
        first = await bot.adapter.post(HERE, relayed())
        second = await bot.adapter.post(HERE, relayed("second"))
        assert len(loopback.find("GET", f"^/channels/{CHANNEL}/webhooks$")) == 1
        (created,) = loopback.find("POST", f"^/channels/{CHANNEL}/webhooks$")
        assert created.body["name"] == "Hearth relay"
        (webhook,) = loopback.webhooks.values()
        calls = executions(loopback)
        assert [c.path for c in calls] == [f"/webhooks/{webhook['id']}/{webhook['token']}"] * 2
        call = calls[0]
        assert call.query["wait"] == "1"
        assert call.body["username"] == "Ada (Matrix Folk)"
        assert call.body["avatar_url"] == "https://example.org/ada.png"
        assert call.body["allowed_mentions"] == {"parse": []}
        content = call.body["content"]
        assert_no_live_mentions(content)
        assert f"@{BOB['id']}" in content and "**ship it**" in content
        assert content.endswith(
            "↪ [original in Matrix Folk](https://matrix.to/#/!room:example.org/$event)"
        )
        shown = loopback.messages[int(first.message_id)]
        assert shown["author"]["username"] == "Ada (Matrix Folk)"
        assert shown["webhook_id"] == webhook["id"] and shown["content"] == content
        assert (first.channel, first.thread_id) == (HERE, None)
        assert loopback.messages[int(second.message_id)]["content"].startswith("second")
        assert not loopback.find("POST", f"^/channels/{CHANNEL}/messages$")  # none as the bot


async def test_relayed_copies_in_threads_are_edited_and_deleted_through_the_webhook(
    database_url: str, tmp_path: Path, loopback: DiscordLoopback
) -> None:
    async with running(database_url, tmp_path, loopback) as bot:
        starter = MessageRef(HERE, "1", str(THREAD))
        ref = await bot.adapter.post(HERE, relayed(), thread=starter)
        assert ref.thread_id == str(THREAD)
        (webhook,) = loopback.webhooks.values()
        assert webhook["channel_id"] == str(CHANNEL)  # a thread's webhook is its parent's
        (call,) = executions(loopback)
        assert call.query["thread_id"] == str(THREAD)
        assert loopback.messages[int(ref.message_id)]["channel_id"] == str(THREAD)

        await bot.adapter.edit(ref, relayed("now with <@&1> **more**"))
        (patch,) = loopback.find(
            "PATCH", f"^/webhooks/{webhook['id']}/.+/messages/{ref.message_id}$"
        )
        assert patch.query["thread_id"] == str(THREAD)
        assert patch.body["allowed_mentions"] == {"parse": []}
        shown = loopback.messages[int(ref.message_id)]["content"]
        assert shown.startswith("now with @role **more**")
        assert_no_live_mentions(shown)
        assert not loopback.find("PATCH", "^/channels/")
        assert len(executions(loopback)) == 1  # edited in place, not sent again

        await bot.adapter.delete(ref)
        (gone,) = loopback.find(
            "DELETE", f"^/webhooks/{webhook['id']}/.+/messages/{ref.message_id}$"
        )
        assert gone.query["thread_id"] == str(THREAD)
        assert int(ref.message_id) not in loopback.messages
        assert not loopback.find("DELETE", "^/channels/")

        # The bot's own message in the same channel: the webhook does not know it.
        own = await bot.adapter.post(HERE, OutboundMessage("Hearth speaking"))
        await bot.adapter.delete(own)
        assert loopback.find("DELETE", f"^/channels/{CHANNEL}/messages/{own.message_id}$")
        assert int(own.message_id) not in loopback.messages


async def test_without_manage_webhooks_a_copy_is_posted_by_the_bot_with_the_authors_name(
    database_url: str, tmp_path: Path, loopback: DiscordLoopback
) -> None:
    loopback.webhooks_forbidden.add(CHANNEL)
    async with running(database_url, tmp_path, loopback) as bot:
        ref = await bot.adapter.post(HERE, relayed())
        again = await bot.adapter.post(HERE, relayed("and again"))
        posts = loopback.find("POST", f"^/channels/{CHANNEL}/messages$")
        assert [p.body["content"][:26] for p in posts] == ["**Ada** (Matrix Folk): Pin"] * 1 + [
            "**Ada** (Matrix Folk): and"
        ]
        assert all(p.body["allowed_mentions"] == {"parse": []} for p in posts)
        assert_no_live_mentions(posts[0].body["content"])
        assert "original in Matrix Folk" in posts[0].body["content"]
        assert ref.message_id != again.message_id
        # One refused look at the webhooks, then no more asking for a while.
        asked = loopback.find("GET", f"^/channels/{CHANNEL}/webhooks$", status=None)
        assert [c.status for c in asked] == [403]
        assert not loopback.find("POST", f"^/channels/{CHANNEL}/webhooks$", status=None)
        assert not executions(loopback, status=None)

        await bot.adapter.edit(ref, relayed("corrected"))
        (patch,) = loopback.find("PATCH", f"^/channels/{CHANNEL}/messages/{ref.message_id}$")
        assert patch.body["content"].startswith("**Ada** (Matrix Folk): corrected")


async def test_a_send_that_may_have_been_posted_is_found_instead_of_posted_again(
    database_url: str, tmp_path: Path, loopback: DiscordLoopback
) -> None:
    async with running(database_url, tmp_path, loopback) as bot:
        key = "relay:discord:42"
        ref = await bot.adapter.post(HERE, relayed(idempotency_key=key))
        content = executions(loopback)[0].body["content"]
        assert key_mark(key) in content and visible(content) != content
        assert visible(content).endswith("/$event)")  # the mark is invisible, at the end
        retried = await bot.adapter.post(HERE, relayed(idempotency_key=key, maybe_posted=True))
        assert retried == ref
        assert len(executions(loopback)) == 1
        (looked,) = loopback.find("GET", f"^/channels/{CHANNEL}/messages$")
        assert looked.query["limit"] == "50"

        own = OutboundMessage("Weekly retro: what went well?", idempotency_key="ritual:7:1")
        posted = await bot.adapter.post(HERE, own)
        (call,) = loopback.find("POST", f"^/channels/{CHANNEL}/messages$")
        assert (call.body["nonce"], call.body["enforce_nonce"]) == (key_nonce("ritual:7:1"), True)
        assert visible(call.body["content"]) == "Weekly retro: what went well?"
        again = OutboundMessage(own.text, idempotency_key="ritual:7:1", maybe_posted=True)
        assert await bot.adapter.post(HERE, again) == posted
        assert len(loopback.find("POST", f"^/channels/{CHANNEL}/messages$")) == 1

        fresh = OutboundMessage("Never sent", idempotency_key="ritual:7:2", maybe_posted=True)
        assert await bot.adapter.post(HERE, fresh) != posted
        assert len(loopback.find("POST", f"^/channels/{CHANNEL}/messages$")) == 2


async def test_our_copies_coming_back_are_not_dispatched_but_read_as_ours(
    database_url: str, tmp_path: Path, loopback: DiscordLoopback, monkeypatch: Any
) -> None:
    # A relay webhook made before a restart, and another integration's webhook.
    ours = loopback.create_webhook(CHANNEL, "Hearth relay")
    github = loopback.create_webhook(CHANNEL, "GitHub", owner=ALICE)
    async with running(database_url, tmp_path, loopback) as bot:
        seen: list[MessagePosted] = []

        async def message_posted(event: MessagePosted, port: object) -> None:
            seen.append(event)

        monkeypatch.setattr(bot.hearth.inbound, "message_posted", message_posted)
        handled = after(bot.adapter, "on_message", times=4)
        earlier = await loopback.webhook_says(ours, "relayed before the restart", "Ada (X)")
        await loopback.webhook_says(github, "build passed", "GitHub")
        ref = await bot.adapter.post(HERE, relayed("relayed now"))  # echoed on the gateway
        await loopback.say("a person speaking")
        await handled
        assert [e.message.text for e in seen] == ["a person speaking"]
        assert seen[0].message.from_bot is False
        assert not loopback.find("POST", f"^/channels/{CHANNEL}/webhooks$")  # found, reused
        assert {c.path.split("/")[2] for c in executions(loopback)} == {ours["id"]}

        copy = await bot.adapter.fetch_message(ref)
        assert copy.from_bot is True and copy.author.display_name == "Ada (Matrix Folk)"
        assert copy.markup == loopback.messages[int(ref.message_id)]["content"]
        old = await bot.adapter.fetch_message(MessageRef(HERE, earlier["id"]))
        assert old.from_bot is True
        others = [m for m in loopback.messages.values() if m.get("webhook_id") == github["id"]]
        foreign = await bot.adapter.fetch_message(MessageRef(HERE, others[0]["id"]))
        assert foreign.from_bot is False
        own = await bot.adapter.post(HERE, OutboundMessage("Hearth itself"))
        assert (await bot.adapter.fetch_message(own)).from_bot is True


async def test_inbound_messages_carry_markup_attachments_and_avatar(
    database_url: str, tmp_path: Path, loopback: DiscordLoopback, monkeypatch: Any
) -> None:
    async with running(database_url, tmp_path, loopback) as bot:
        posted: list[MessagePosted] = []
        edited: list[MessageEdited] = []

        async def message_posted(event: MessagePosted, port: object) -> None:
            posted.append(event)

        async def message_edited(event: MessageEdited) -> None:
            edited.append(event)

        monkeypatch.setattr(bot.hearth.inbound, "message_posted", message_posted)
        monkeypatch.setattr(bot.hearth.inbound, "message_edited", message_edited)
        plan = loopback.attachment("plan.pdf", 2048, "application/pdf")
        handled = after(bot.adapter, "on_message")
        source = await loopback.say(f"**Look** at this, <@{BOB['id']}>", attachments=[plan])
        await handled
        (event,) = posted
        message = event.message
        assert message.markup == f"**Look** at this, <@{BOB['id']}>"
        assert message.attachments == (
            Attachment("plan.pdf", plan["url"], 2048, "application/pdf"),
        )
        assert message.avatar_url is not None
        assert message.avatar_url.startswith("https://cdn.discordapp.com/embed/avatars/")
        assert message.from_bot is False

        changed = after(bot.adapter, "on_edit")
        await loopback.edit(source, "**Look** again")
        await changed
        assert [(e.text, e.markup) for e in edited] == [("**Look** again", "**Look** again")]

        fetched = await bot.adapter.fetch_message(message.ref)
        assert fetched.attachments == message.attachments and fetched.markup == "**Look** again"
        (starter,) = await bot.adapter.fetch_thread(message.ref)
        assert starter.attachments == message.attachments


async def test_hearths_own_posts_render_from_the_document_when_there_is_one(
    database_url: str, tmp_path: Path, loopback: DiscordLoopback
) -> None:
    async with running(database_url, tmp_path, loopback) as bot:
        document = from_discord("**Pinned** by the curators @everyone")
        await bot.adapter.post(HERE, OutboundMessage("ignored text", document=document))
        (call,) = loopback.find("POST", f"^/channels/{CHANNEL}/messages$")
        assert call.body["content"] == "**Pinned** by the curators @\u200beveryone"
        assert call.body["allowed_mentions"] == {"parse": []}
        assert not loopback.find("GET", "/webhooks$")  # not a relay: no webhook involved


def test_webhook_usernames_are_accepted_by_discord() -> None:
    name = webhook_username("Clyde, the Discord fan @home #1: `x`", "DISCORD people")
    assert "discord" not in name.lower() and "clyde" not in name.lower()
    assert not set("@#:`") & set(name)
    long = webhook_username("A" * 100, "Matrix Folk")
    assert len(long) == 80 and long.endswith("… (Matrix Folk)")
    assert webhook_username("  ", "X") == "Someone (X)"


async def test_relay_failures_are_the_ports_typed_failures(
    database_url: str, tmp_path: Path, loopback: DiscordLoopback
) -> None:
    async with running(database_url, tmp_path, loopback) as bot:
        first = await bot.adapter.post(HERE, relayed("one"))
        (webhook,) = loopback.webhooks.values()
        del loopback.webhooks[int(webhook["id"])]  # an admin deleted the relay webhook
        second = await bot.adapter.post(HERE, relayed("two"))
        assert len(loopback.find("POST", f"^/channels/{CHANNEL}/webhooks$")) == 2
        (renewed,) = loopback.webhooks.values()
        assert loopback.messages[int(second.message_id)]["webhook_id"] == renewed["id"]
        assert second.message_id != first.message_id

        loopback.rate_limit_next("POST", f"^/webhooks/{renewed['id']}/", retry_after=0.01)
        third = await bot.adapter.post(HERE, relayed("three"))
        assert [c.status for c in executions(loopback, status=None)][-2:] == [429, 200]
        assert loopback.messages[int(third.message_id)]["content"].startswith("three")

        loopback.channels_gone.add(OTHER_CHANNEL)
        elsewhere = ChannelRef("discord", HERE.space, str(OTHER_CHANNEL))
        with pytest.raises(TargetGone):
            await bot.adapter.post(elsewhere, relayed("nowhere"))


async def test_the_channel_history_after_a_message_reads_people_oldest_first_over_pages(
    database_url: str, tmp_path: Path, loopback: DiscordLoopback
) -> None:
    """What catch-up reads in a channel linked whole: every page after the position,
    Hearth's copies and other bots left out, threads flagged, the oldest `limit` kept."""
    async with running(database_url, tmp_path, loopback) as bot:
        seen = loopback.message(CHANNEL, "read before the restart", ALICE)
        missed = [loopback.message(CHANNEL, f"missed {n}", BOB) for n in range(150)]
        copy = await bot.adapter.post(HERE, relayed("a copy Hearth made"))
        loopback.messages[int(missed[3]["id"])]["flags"] = 32  # HAS_THREAD
        since = datetime(2020, 1, 1, tzinfo=UTC)
        found = await bot.adapter.channel_history(HERE, seen["id"], since, 1000)
        assert [e.message.text for e in found.posted] == [f"missed {n}" for n in range(150)]
        assert all(e.message.ref.thread_id is None and e.reply_to is None for e in found.posted)
        assert found.replied == {missed[3]["id"]}
        assert found.position == copy.message_id  # read past it, relayed not
        pages = loopback.find("GET", rf"^/channels/{CHANNEL}/messages$")
        assert len(pages) >= 2 and pages[0].query["after"] == seen["id"]

        bounded = await bot.adapter.channel_history(HERE, seen["id"], since, 10)
        assert [e.message.text for e in bounded.posted] == [f"missed {n}" for n in range(10)]
        assert bounded.position == missed[9]["id"]
        nothing = await bot.adapter.channel_history(HERE, copy.message_id, since, 10)
        assert nothing.posted == () and nothing.position is None
