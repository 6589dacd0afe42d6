"""The Slack port for relays: attributed copies, idempotent posts after a possible send,
and the inbound side a relay reads (markup, files, own-bot messages, edits and deletes of
thread replies, whole threads for catch-up). Real slack-bolt/slack_sdk code against the
loopback Web API, with signed requests for events."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest

from adapters.slack import SlackAdapter
from adapters.slack.text import outbound_mrkdwn
from bot.app import Hearth
from bot.events import (
    Attachment,
    ChannelRef,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    MessageRef,
)
from bot.inbound import Inbound
from bot.port import Attribution, OutboundMessage, OutboundPort
from bot.text import from_discord, from_slack
from knowledge.inbound import InboundLog
from tests.fakes.slack_loopback import (
    BOT_ID,
    BOT_USER,
    JSON,
    TEAM,
    EventsEndpoint,
    LoopbackSlack,
    avatar,
    event_body,
    send,
)
from tests.test_slack_adapter import hearth_config, slack_config

C1 = ChannelRef("slack", TEAM, "C1")
ANN_PIC = "https://cdn.discordapp.com/avatars/1/ann.png"
ORIGINAL = "https://discord.com/channels/1/2/3"
HOSTILE = (
    "<!channel> <!here> <!everyone> <@UBOB|bob> <!subteam^S1|@devs> <#C1|general> "
    "*ship it* &lt;!here&gt; <https://x.org|docs>"
)
LIVE_PING = re.compile(r"<[@!#]|<!subteam")


class Recorder:
    """The core's Inbound, recording what the adapter hands it."""

    def __init__(self, inner: Inbound) -> None:
        self.inner = inner
        self.posted: list[MessagePosted] = []
        self.edited: list[MessageEdited] = []
        self.deleted: list[MessageDeleted] = []

    async def message_posted(self, event: MessagePosted, port: OutboundPort) -> None:
        self.posted.append(event)
        await self.inner.message_posted(event, port)

    async def message_edited(self, event: MessageEdited) -> None:
        self.edited.append(event)
        await self.inner.message_edited(event)

    async def message_deleted(self, event: MessageDeleted) -> None:
        self.deleted.append(event)
        await self.inner.message_deleted(event)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@dataclass
class Env(EventsEndpoint):
    adapter: SlackAdapter
    api: LoopbackSlack
    seen: Recorder
    delivered: dict[str, asyncio.Future[None]] = field(default_factory=dict)

    async def deliver(self, event: dict[str, Any], event_id: str) -> None:
        """Send a signed event and wait until the adapter has finished with it."""
        done = self.expect(event_id)
        sent = await send(self.url, event_body(event, event_id), JSON)
        assert sent.status == 200, sent.text
        await done


@pytest.fixture
async def slack(database_url: str, tmp_path: Path) -> AsyncIterator[Env]:
    api = LoopbackSlack()
    await api.start()
    api.add_user("UANN", "ann")
    api.add_user("UBOB", "bob")
    hearth = await Hearth.open(hearth_config(database_url, tmp_path))
    adapter = SlackAdapter(slack_config(api), InboundLog(hearth.database))
    env = Env(adapter, api, Recorder(hearth.inbound))
    adapter.on_delivered = env.done
    await adapter.connect()
    await adapter.start(cast(Inbound, env.seen))
    try:
        yield env
    finally:
        await adapter.stop()
        await hearth.close()
        await api.close()


def relayed(
    markup: str = HOSTILE, *, key: str | None = None, maybe_posted: bool = False
) -> OutboundMessage:
    return OutboundMessage(
        text="(unused for a relay)",
        attribution=Attribution("Ann", "Discord Guild", ANN_PIC, ORIGINAL),
        document=from_slack(markup),
        idempotency_key=key,
        maybe_posted=maybe_posted,
    )


def shown(params: dict[str, Any]) -> list[str]:
    """Every piece of text a reader sees: the fallback text and each block's mrkdwn."""
    return [params["text"], *(b["text"]["text"] for b in params.get("blocks") or [])]


# outbound: relayed copies ------------------------------------------------------------


def test_relay_rendering_defuses_every_ping() -> None:
    text = outbound_mrkdwn(relayed())
    assert not LIVE_PING.search(text)
    assert "@\u200bchannel" in text and "@\u200bhere" in text and "@bob" in text
    assert "*ship it*" in text and "<https://x.org|docs>" in text  # formatting survives
    assert text.endswith(f"<{ORIGINAL}|original in Discord Guild>")

    discord = OutboundMessage(
        "x",
        attribution=Attribution("Ann", "G"),
        document=from_discord("@everyone <@123456789012345678> <@&55> **bold**"),
    )
    text = outbound_mrkdwn(discord)
    assert not LIVE_PING.search(text) and "@\u200beveryone" in text and "*bold*" in text
    assert "original in" not in text  # no link given, no footer

    # not a relay: the document renders as it is, mentions native
    native = OutboundMessage("ignored", document=from_slack("*hi* <@UANN>"))
    assert outbound_mrkdwn(native) == "*hi* <@UANN>"


async def test_relayed_copy_is_posted_under_the_author_with_key_metadata(slack: Env) -> None:
    ref = await slack.adapter.post(C1, relayed(key="relay:1:C1"))
    (call,) = slack.api.named("chat.postMessage")
    params = call.params
    assert params["username"] == "Ann (Discord Guild)" and params["icon_url"] == ANN_PIC
    assert params["unfurl_links"] is False and params["unfurl_media"] is False
    assert params["metadata"] == {
        "event_type": "hearth_relay",
        "event_payload": {"key": "relay:1:C1"},
    }
    for text in shown(params):
        assert not LIVE_PING.search(text), text
    assert "original in Discord Guild" in params["text"]

    # what people see in the channel: the copy under Ann's name and picture, from our bot
    copy = await slack.adapter.fetch_message(ref)
    assert copy.author.display_name == "Ann (Discord Guild)" and copy.avatar_url == ANN_PIC
    assert copy.from_bot and copy.markup is not None and "@\u200bhere" in copy.markup
    assert "@here" not in copy.text.replace("@\u200bhere", "")


async def test_edit_of_a_relayed_copy_renders_the_same_way(slack: Env) -> None:
    ref = await slack.adapter.post(C1, relayed())
    await slack.adapter.edit(ref, relayed("now <!here> *fixed* <@UANN>"))
    (update,) = slack.api.named("chat.update")
    assert "username" not in update.params  # chat.update cannot change it
    assert not LIVE_PING.search(update.params["text"])
    assert update.params["text"].startswith("now @\u200bhere *fixed* @UANN\n")
    stored = slack.api.find("C1", ref.message_id)
    assert stored is not None and stored["username"] == "Ann (Discord Guild)"
    assert stored["text"] == update.params["text"] and "edited" in stored


async def test_maybe_posted_finds_the_copy_in_the_thread_instead_of_posting(slack: Env) -> None:
    root = "1700000000.000100"
    slack.api.add_message("C1", "UANN", "Question?", root)
    thread = MessageRef(C1, root, thread_id=root)
    for n in range(3):
        slack.api.add_message("C1", "UBOB", f"reply {n}", f"1700000000.00020{n}", thread_ts=root)
    first = await slack.adapter.post(C1, relayed(key="k-thread"), thread=thread)
    slack.api.add_message("C1", "UBOB", "later", "1800000099.000001", thread_ts=root)
    slack.api.page_cap = 2  # the copy is on the third page of the thread

    again = await slack.adapter.post(C1, relayed(key="k-thread", maybe_posted=True), thread=thread)
    assert again == first
    assert len(slack.api.named("chat.postMessage")) == 1  # nothing new was posted
    lookups = slack.api.named("conversations.replies")
    assert len(lookups) >= 3 and all(
        c.params["include_all_metadata"] in ("1", "true") for c in lookups
    )
    replies = [m for m in slack.api.messages["C1"] if m.get("thread_ts") == root]
    assert sum("original in Discord Guild" in m["text"] for m in replies) == 1


async def test_maybe_posted_top_level_looks_in_recent_history(slack: Env) -> None:
    slack.api.add_message("C1", "UANN", "older", "1700000000.000100")
    first = await slack.adapter.post(C1, relayed(key="k-top"))
    other = await slack.adapter.post(C1, relayed(key="k-other"))
    again = await slack.adapter.post(C1, relayed(key="k-top", maybe_posted=True))
    assert again == first and again != other
    assert len(slack.api.named("chat.postMessage")) == 2
    (lookup,) = slack.api.named("conversations.history")
    assert lookup.params["include_all_metadata"] in ("1", "true")


async def test_maybe_posted_with_an_unknown_key_posts(slack: Env) -> None:
    await slack.adapter.post(C1, relayed(key="k-a"))
    ref = await slack.adapter.post(C1, relayed(key="k-b", maybe_posted=True))
    assert len(slack.api.named("chat.postMessage")) == 2
    assert len(slack.api.named("conversations.history")) == 1
    stored = slack.api.find("C1", ref.message_id)
    assert stored is not None and stored["metadata"]["event_payload"]["key"] == "k-b"


async def test_without_maybe_posted_the_same_key_posts_again_without_looking(slack: Env) -> None:
    first = await slack.adapter.post(C1, relayed(key="k-same"))
    second = await slack.adapter.post(C1, relayed(key="k-same"))
    assert first != second and len(slack.api.named("chat.postMessage")) == 2
    assert not slack.api.named("conversations.history")
    assert not slack.api.named("conversations.replies")


async def test_a_key_on_someone_elses_message_is_not_ours(slack: Env) -> None:
    metadata = {"event_type": "hearth_relay", "event_payload": {"key": "k-x"}}
    slack.api.add_message(
        "C1", "UANN", "spoof", "1700000000.000100", bot_id="BOTHER", metadata=metadata
    )
    ref = await slack.adapter.post(C1, relayed(key="k-x", maybe_posted=True))
    assert ref.message_id != "1700000000.000100"
    assert len(slack.api.named("chat.postMessage")) == 1


# inbound -----------------------------------------------------------------------------


def message_event(ts: str, text: str, user: str = "UANN", **extra: Any) -> dict[str, Any]:
    return {"type": "message", "channel": "C1", "user": user, "text": text, "ts": ts, **extra}


async def test_our_own_copies_never_reach_the_core(slack: Env) -> None:
    custom = {
        "type": "message",
        "subtype": "bot_message",
        "channel": "C1",
        "bot_id": BOT_ID,
        "username": "Ann (Discord Guild)",
        "icons": {"image_48": ANN_PIC},
        "text": "relayed words",
        "ts": "1700000000.000100",
    }
    plain_bot = message_event("1700000000.000200", "our reply", user=BOT_USER, bot_id=BOT_ID)
    for n, event in enumerate((custom, plain_bot)):
        sent = await send(slack.url, event_body(event, f"Ev-own-{n}"), JSON)
        assert sent.status == 200  # acknowledged (Slack must not retry), then dropped
    await slack.deliver(message_event("1700000000.000300", "a person"), "Ev-person")
    assert [e.message.text for e in slack.seen.posted] == ["a person"]

    # the adapter's own guard, even if Bolt's self-event filter were off
    body = {"team_id": TEAM, "event_id": "Ev-direct"}
    for event in (custom, plain_bot, {**plain_bot, "bot_id": None}):
        await slack.adapter._on_message(body, event)
    assert [e.message.text for e in slack.seen.posted] == ["a person"]

    # and an edit of our copy is no edit for the core either
    changed = {
        "type": "message",
        "subtype": "message_changed",
        "channel": "C1",
        "ts": "1.1",
        "message": {**custom, "text": "relayed words, fixed"},
        "previous_message": custom,
    }
    await slack.deliver(changed, "Ev-own-edit")
    assert slack.seen.edited == []


async def test_inbound_message_carries_markup_files_and_avatar(slack: Env) -> None:
    files = [
        {
            "id": "F1",
            "name": "plan.pdf",
            "title": "Plan",
            "mimetype": "application/pdf",
            "size": 2048,
            "url_private": "https://files.slack.com/files-pri/T1-F1/plan.pdf",
            "permalink": "https://hearth-test.slack.com/files/UANN/F1/plan.pdf",
        },
        {
            "id": "F2",
            "title": "screenshot",
            "mimetype": "image/png",
            "permalink": "https://hearth-test.slack.com/files/UANN/F2/shot.png",
        },
        {"id": "F3", "mode": "tombstone"},  # deleted: nothing to link to
    ]
    event = message_event(
        "1700000000.000400", "see *this* <@UBOB>", subtype="file_share", files=files
    )
    await slack.deliver(event, "Ev-files")
    (posted,) = slack.seen.posted
    message = posted.message
    assert message.text == "see *this* @UBOB" and message.markup == "see *this* <@UBOB>"
    assert message.attachments == (
        Attachment(
            "plan.pdf",
            "https://files.slack.com/files-pri/T1-F1/plan.pdf",
            2048,
            "application/pdf",
        ),
        Attachment(
            "screenshot", "https://hearth-test.slack.com/files/UANN/F2/shot.png", None, "image/png"
        ),
    )
    assert message.avatar_url == avatar("UANN") and message.author.display_name == "ann"
    assert not message.from_bot


async def test_edits_and_deletes_of_thread_replies(slack: Env) -> None:
    root, reply = "1700000000.000500", "1700000000.000600"
    changed = {
        "type": "message",
        "subtype": "message_changed",
        "channel": "C1",
        "ts": "1.1",
        "message": message_event(reply, "now *bold* <@UBOB>", thread_ts=root),
        "previous_message": message_event(reply, "before", thread_ts=root),
    }
    await slack.deliver(changed, "Ev-edit")
    (edited,) = slack.seen.edited
    assert edited.ref == MessageRef(C1, reply, thread_id=root)
    assert edited.text == "now *bold* @UBOB" and edited.markup == "now *bold* <@UBOB>"
    assert edited.editor.user_id == "UANN"

    unfurl = {**changed, "previous_message": changed["message"]}  # same text: not an edit
    await slack.deliver(unfurl, "Ev-unfurl")
    assert len(slack.seen.edited) == 1

    deleted = {
        "type": "message",
        "subtype": "message_deleted",
        "channel": "C1",
        "ts": "1.2",
        "deleted_ts": reply,
        "previous_message": message_event(reply, "now", thread_ts=root),
    }
    await slack.deliver(deleted, "Ev-delete")
    assert slack.seen.deleted == [MessageDeleted(MessageRef(C1, reply, thread_id=root))]

    # a root deleted while it has replies stays as a tombstone: a deletion, not an edit
    tombstone = {
        "type": "message",
        "subtype": "message_changed",
        "channel": "C1",
        "ts": "1.3",
        "hidden": True,
        "message": {
            "type": "message",
            "subtype": "tombstone",
            "text": "This message was deleted.",
            "ts": root,
            "thread_ts": root,
            "hidden": True,
        },
        "previous_message": message_event(root, "Question?", thread_ts=root),
    }
    await slack.deliver(tombstone, "Ev-tombstone")
    assert slack.seen.deleted[-1] == MessageDeleted(MessageRef(C1, root, thread_id=root))
    assert len(slack.seen.edited) == 1


async def test_fetch_thread_returns_every_page_with_root_thread_ids(slack: Env) -> None:
    root = "1700000000.000100"
    slack.api.add_message("C1", "UANN", "Question?", root)
    thread = MessageRef(C1, root)
    slack.api.add_message("C1", "UBOB", "first *answer*", "1700000000.000200", thread_ts=root)
    copy = await slack.adapter.post(C1, relayed("from Discord"), thread=thread)
    ours = await slack.adapter.post(C1, OutboundMessage("Captured insight #1"), thread=thread)
    slack.api.add_message(
        "C1", "UANN", "while Hearth was down", "1800000100.000001", thread_ts=root
    )
    edited = slack.api.find("C1", "1700000000.000200")
    assert edited is not None
    edited.update(text="first *answer*, edited", edited={"user": "UBOB", "ts": "1800000200.000000"})
    slack.api.page_cap = 2

    messages = await slack.adapter.fetch_thread(MessageRef(C1, copy.message_id, thread_id=root))
    assert [m.ref.message_id for m in messages] == [
        root,
        "1700000000.000200",
        copy.message_id,
        ours.message_id,
        "1800000100.000001",
    ]
    assert all(m.ref.thread_id == root for m in messages)
    assert [m.from_bot for m in messages] == [False, False, True, True, False]
    assert messages[1].text == "first *answer*, edited"  # the core compares text for edits
    assert messages[1].markup == "first *answer*, edited"
    assert messages[2].author.display_name == "Ann (Discord Guild)"
    assert len(slack.api.named("conversations.replies")) == 3

    lone = "1700000000.000900"
    slack.api.add_message("C1", "UBOB", "no replies yet", lone)
    (only,) = await slack.adapter.fetch_thread(MessageRef(C1, lone))
    assert only.ref == MessageRef(C1, lone, thread_id=lone)

    # the root deleted while it has replies: a tombstone, left out like a deleted message
    tomb = slack.api.find("C1", root)
    assert tomb is not None
    tomb.update(subtype="tombstone", text="This message was deleted.", user="USLACKBOT")
    rest = await slack.adapter.fetch_thread(MessageRef(C1, root))
    assert root not in [m.ref.message_id for m in rest] and len(rest) == 4
