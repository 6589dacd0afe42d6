"""The Matrix port for relays, against the real Synapse: attributed copies that ping no one,
idempotent sends (Synapse transaction ids), and what inbound messages carry for a relay
(markup, files, avatar, `from_bot`), live, fetched and caught up after a restart.

Waiting is on futures the adapter resolves (`on_handled`), never on sleeps.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

from nio import AsyncClient

from adapters.matrix.outbound import MatrixPort
from bot.events import ChannelRef, MessageDeleted, MessageEdited, MessagePosted, MessageRef
from bot.port import Attribution, OutboundMessage
from bot.text import Bold, Document, Paragraph, Text, UserMention
from tests.fakes.synapse_server import MatrixUser, SynapseServer, in_thread, synapse  # noqa: F401
from tests.harness.matrix_harness import Env

HTML = "org.matrix.custom.html"


def channel_of(env: Env) -> ChannelRef:
    return ChannelRef("matrix", env.server.server_name, env.room.room_id)


def event(env: Env, event_id: str) -> dict[str, Any]:
    path = f"/_matrix/client/v3/rooms/{quote(env.room.room_id)}/event/{quote(event_id)}"
    return env.server.request("GET", path, None, env.ann.access_token)


def timeline(env: Env) -> list[dict[str, Any]]:
    """The room's messages, oldest first."""
    path = f"/_matrix/client/v3/rooms/{quote(env.room.room_id)}/messages?dir=b&limit=200"
    chunk = env.server.request("GET", path, None, env.ann.access_token)["chunk"]
    return [e for e in reversed(chunk) if e["type"] == "m.room.message"]


def keyed(env: Env, key: str) -> list[dict[str, Any]]:
    return [e for e in timeline(env) if e["content"].get("org.hearth.key") == key]


def edits_of(env: Env, event_id: str) -> list[dict[str, Any]]:
    return [
        e
        for e in timeline(env)
        if (e["content"].get("m.relates_to") or {}).get("rel_type") == "m.replace"
        and e["content"]["m.relates_to"].get("event_id") == event_id
    ]


def recorded(env: Env, kind: type, event_id: str) -> list[Any]:
    assert env.recorder is not None
    found = []
    for item in env.recorder.events:
        if not isinstance(item, kind):
            continue
        ref = item.message.ref if isinstance(item, MessagePosted) else item.ref
        if ref.message_id == event_id:
            found.append(item)
    return found


def relay(text: str, key: str | None, doc: Document | None = None) -> OutboundMessage:
    return OutboundMessage(
        text,
        attribution=Attribution("Dana", "Other Guild", link="https://discord.com/channels/1/2/3"),
        document=doc,
        idempotency_key=key,
    )


async def test_relayed_copy_is_attributed_text_that_pings_no_one(matrix: Env) -> None:
    """Why m.text: relayed words are people's, and clients grey out (and often do not
    notify for) notices; the copy still pings no one and names its author and source."""
    adapter, ann = matrix.adapter, matrix.ann
    assert adapter is not None
    doc = Document(
        (
            Paragraph(
                (
                    Bold((Text("Ship"),)),
                    Text(" it, "),
                    UserMention("matrix", ann.user_id, "Ann"),
                    Text(" @room"),
                )
            ),
        )
    )
    ref = await adapter.post(channel_of(matrix), relay("Ship it", "relay-1", doc))
    content = event(matrix, ref.message_id)["content"]
    assert content["msgtype"] == "m.text" and content["format"] == HTML
    assert content["m.mentions"] == {}
    assert content["org.hearth.relay"] == {
        "author": "Dana",
        "community": "Other Guild",
        "key": "relay-1",
    }
    body, html = content["body"], content["formatted_body"]
    assert "Dana" in body and "(Other Guild): " in body and "Ship" in body
    assert "<strong>Dana</strong> (Other Guild): " in html and "<strong>Ship</strong>" in html
    assert "original in Other Guild" in body and "original in Other Guild" in html
    assert 'href="https://discord.com/channels/1/2/3"' in html
    assert "Ann" in body and "matrix.to/#/@" not in html  # a name, not a pill
    assert "@room" not in body and "@room" not in html

    await adapter.edit(ref, relay("Ship it today", "relay-1-edit"))
    (edit,) = edits_of(matrix, ref.message_id)
    new = edit["content"]["m.new_content"]
    assert new["msgtype"] == "m.text" and new["m.mentions"] == {}
    assert "<strong>Dana</strong> (Other Guild): Ship it today" in new["formatted_body"]
    assert new["org.hearth.relay"]["author"] == "Dana"
    assert edit["content"]["body"].startswith("* ")

    later = matrix.room.say(ann, "after the relay")  # the bot has synced past its own copy
    await matrix.wait(later)
    assert ref.message_id not in matrix.received
    assert edit["event_id"] not in matrix.received
    assert not recorded(matrix, MessagePosted, ref.message_id)


async def test_a_post_with_a_document_renders_the_document(matrix: Env) -> None:
    adapter = matrix.adapter
    assert adapter is not None
    doc = Document((Paragraph((Bold((Text("From the document"),)),)),))
    ref = await adapter.post(channel_of(matrix), OutboundMessage("the fallback", document=doc))
    content = event(matrix, ref.message_id)["content"]
    assert content["msgtype"] == "m.notice"
    assert "From the document" in content["body"] and "fallback" not in content["body"]
    assert "<strong>From the document</strong>" in content["formatted_body"]
    assert "org.hearth.relay" not in content


async def test_a_key_is_posted_once_even_by_a_restarted_process(matrix: Env) -> None:
    """Synapse answers a repeated transaction id from the same device with the first
    event; the device survives a restart when Hearth runs on a fixed access token."""
    adapter, bot = matrix.adapter, matrix.bot
    assert adapter is not None
    channel, key = channel_of(matrix), f"k-{uuid.uuid4().hex}"
    first = await adapter.post(channel, relay("once only", key))
    again = await adapter.post(channel, relay("once only", key))
    assert again.message_id == first.message_id

    client = AsyncClient(matrix.server.url, bot.user_id)  # a new process, same token
    client.restore_login(bot.user_id, bot.device_id, bot.access_token)
    try:
        restarted = await MatrixPort(client, matrix.server.server_name).post(
            channel, relay("once only", key)
        )
    finally:
        await client.close()
    assert restarted.message_id == first.message_id
    assert len(keyed(matrix, key)) == 1

    root = matrix.room.say(matrix.ann, "a thread")
    threaded_key = f"t-{uuid.uuid4().hex}"
    thread = MessageRef(channel, root)
    one = await adapter.post(
        channel, OutboundMessage("in it", idempotency_key=threaded_key), thread=thread
    )
    two = await adapter.post(
        channel, OutboundMessage("in it", idempotency_key=threaded_key), thread=thread
    )
    assert one == two and one.thread_id == root
    assert len(keyed(matrix, threaded_key)) == 1

    # keyed edits: the same edit once; a different edit under the same key is a new one
    await adapter.edit(first, relay("changed", key))
    await adapter.edit(first, relay("changed", key))
    assert len(edits_of(matrix, first.message_id)) == 1
    await adapter.edit(first, relay("changed again", key))
    assert len(edits_of(matrix, first.message_id)) == 2


async def test_a_new_device_needs_maybe_posted_to_find_the_earlier_send(matrix: Env) -> None:
    """Why `maybe_posted` matters on Matrix: with a password login every start is a new
    device, and Synapse scopes transaction ids per device, so the id alone would post a
    second copy; marked `maybe_posted`, the port finds its earlier message by key."""
    bot, channel = matrix.bot, channel_of(matrix)
    ports: list[MatrixPort] = []
    clients: list[AsyncClient] = []
    try:
        for _ in range(2):
            client = AsyncClient(matrix.server.url, bot.user_id)
            login = await client.login(bot.password, device_name="Hearth")
            assert getattr(login, "device_id", None), login
            clients.append(client)
            ports.append(MatrixPort(client, matrix.server.server_name))
        assert clients[0].device_id != clients[1].device_id

        plain_key = f"p-{uuid.uuid4().hex}"
        first = await ports[0].post(channel, relay("hello", plain_key))
        second = await ports[1].post(channel, relay("hello", plain_key))
        assert second.message_id != first.message_id  # the limitation, made visible

        key = f"m-{uuid.uuid4().hex}"
        earlier = await ports[0].post(channel, relay("hello again", key))
        retried = OutboundMessage(
            "hello again",
            attribution=Attribution("Dana", "Other Guild"),
            idempotency_key=key,
            maybe_posted=True,
        )
        found = await ports[1].post(channel, retried)
        assert found.message_id == earlier.message_id
        assert len(keyed(matrix, key)) == 1
        fresh = f"f-{uuid.uuid4().hex}"  # maybe_posted but never posted: posted now
        posted = await ports[1].post(
            channel, OutboundMessage("new", idempotency_key=fresh, maybe_posted=True)
        )
        assert [e["event_id"] for e in keyed(matrix, fresh)] == [posted.message_id]
    finally:
        for client in clients:
            await client.close()


def set_avatar(env: Env, who: MatrixUser, mxc: str) -> None:
    """The avatar as the member's own state event in the room, not a profile update:
    Synapse spreads profile changes to rooms in the background, so a message sent right
    after could reach the bot first. A state event sits in the timeline before them."""
    state = f"/_matrix/client/v3/rooms/{quote(env.room.room_id)}/state/m.room.member/"
    path = state + quote(who.user_id)
    member = env.server.request("GET", path, None, who.access_token)
    env.server.request("PUT", path, {**member, "avatar_url": mxc}, who.access_token)


async def test_inbound_messages_carry_markup_files_avatar_and_authorship(matrix: Env) -> None:
    room, ann, adapter = matrix.room, matrix.ann, matrix.adapter
    assert adapter is not None
    set_avatar(matrix, ann, "mxc://hearth.test/annface")
    html = room.send(
        ann,
        {
            "msgtype": "m.text",
            "body": "Ship **small**",
            "format": HTML,
            "formatted_body": "Ship <b>small</b>",
        },
    )
    file = room.send(
        ann,
        {
            "msgtype": "m.file",
            "body": "notes.pdf",
            "url": "mxc://hearth.test/abcDEF",
            "info": {"size": 2048, "mimetype": "application/pdf"},
        },
    )
    image = room.send(
        ann,
        {
            "msgtype": "m.image",
            "body": "our cat",
            "filename": "cat.png",
            "url": "mxc://hearth.test/cat",
            "info": {"size": 10, "mimetype": "image/png"},
        },
    )
    for event_id in (html, file, image):
        await matrix.wait(event_id)

    (posted,) = recorded(matrix, MessagePosted, html)
    assert posted.message.markup == "Ship <b>small</b>"
    assert posted.message.text == "Ship small" and not posted.message.from_bot
    media = f"{matrix.server.url}/_matrix/client/v1/media/download/hearth.test"
    assert posted.message.avatar_url == f"{media}/annface"
    (with_file,) = recorded(matrix, MessagePosted, file)
    (attachment,) = with_file.message.attachments
    assert attachment.name == "notes.pdf" and attachment.url == f"{media}/abcDEF/notes.pdf"
    assert attachment.size == 2048 and attachment.content_type == "application/pdf"
    assert with_file.message.markup is None
    (with_image,) = recorded(matrix, MessagePosted, image)
    assert [(a.name, a.size, a.content_type) for a in with_image.message.attachments] == [
        ("cat.png", 10, "image/png")
    ]

    channel = channel_of(matrix)
    fetched = await adapter.fetch_message(MessageRef(channel, html))
    assert fetched.markup == "Ship <b>small</b>" and not fetched.from_bot
    assert fetched.avatar_url == f"{media}/annface"
    fetched_file = await adapter.fetch_message(MessageRef(channel, file))
    assert fetched_file.attachments == with_file.message.attachments

    # a thread: Ann's root, the bot's answer, Ann's HTML reply
    root = room.say(ann, "Thread root")
    await matrix.wait(root)
    answer = await adapter.post(
        channel, OutboundMessage("bot answer"), thread=MessageRef(channel, root)
    )
    reply = room.send(
        ann,
        {
            "msgtype": "m.text",
            "body": "in *thread*",
            "format": HTML,
            "formatted_body": "in <em>thread</em>",
            **in_thread(root),
        },
    )
    await matrix.wait(reply)
    (live,) = recorded(matrix, MessagePosted, reply)
    assert live.message.ref.thread_id == root and live.message.markup == "in <em>thread</em>"
    thread = await adapter.fetch_thread(MessageRef(channel, root))
    assert [m.ref.message_id for m in thread] == [root, answer.message_id, reply]
    assert [m.from_bot for m in thread] == [False, True, False]
    assert thread[2].markup == "in <em>thread</em>" and thread[2].ref.thread_id == root
    assert answer.message_id not in matrix.received  # its own events are never dispatched

    edit = room.send(
        ann,
        {
            "msgtype": "m.text",
            "body": "* in **thread**",
            "m.new_content": {
                "msgtype": "m.text",
                "body": "in **thread**",
                "format": HTML,
                "formatted_body": "in <strong>thread</strong>",
            },
            "m.relates_to": {"rel_type": "m.replace", "event_id": reply},
        },
    )
    await matrix.wait(edit)
    (edited,) = recorded(matrix, MessageEdited, reply)
    assert edited.ref.thread_id == root and edited.text == "in thread"
    assert edited.markup == "in <strong>thread</strong>"

    redaction = room.redact(ann, reply)
    await matrix.wait(redaction)
    (deleted,) = recorded(matrix, MessageDeleted, reply)
    assert deleted.ref.thread_id == root


async def test_catch_up_after_a_restart_delivers_each_missed_change_once(matrix: Env) -> None:
    """Why: posts, edits and redactions made while Hearth was down must still reach the
    relays, each exactly once; the sync token saved after each batch is where it resumes."""
    room, ann, adapter = matrix.room, matrix.ann, matrix.adapter
    assert adapter is not None and matrix.recorder is not None
    to_edit = room.say(ann, "Edit me later")
    to_redact = room.say(ann, "Redact me later")
    root = room.say(ann, "A thread")
    in_reply = room.say(ann, "Edit me in the thread", **in_thread(root))
    for event_id in (to_edit, to_redact, root, in_reply):
        await matrix.wait(event_id)
    await adapter.stop()
    matrix.adapter = None
    matrix.recorder.events.clear()
    matrix.received.clear()

    posted = room.send(
        ann,
        {
            "msgtype": "m.text",
            "body": "While **down**",
            "format": HTML,
            "formatted_body": "While <b>down</b>",
        },
    )
    edit = room.send(
        ann,
        {
            "msgtype": "m.text",
            "body": "* Edited while down",
            "m.new_content": {
                "msgtype": "m.text",
                "body": "Edited *while* down",
                "format": HTML,
                "formatted_body": "Edited <em>while</em> down",
            },
            "m.relates_to": {"rel_type": "m.replace", "event_id": to_edit},
        },
    )
    thread_edit = room.send(
        ann,
        {
            "msgtype": "m.text",
            "body": "* Edited in the thread",
            "m.new_content": {"msgtype": "m.text", "body": "Edited in the thread"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": in_reply},
        },
    )
    redaction = room.redact(ann, to_redact)
    gone = room.say(ann, "Said and taken back while down")
    gone_redaction = room.redact(ann, gone)

    await matrix.start_adapter()
    for event_id in (posted, edit, thread_edit, redaction, gone_redaction):
        await matrix.wait(event_id)

    events = matrix.recorder.events
    assert [e.message.ref.message_id for e in events if isinstance(e, MessagePosted)] == [
        posted
    ]  # the message taken back before Hearth saw it is not posted, only deleted
    (message,) = [e.message for e in events if isinstance(e, MessagePosted)]
    assert message.markup == "While <b>down</b>" and message.text == "While down"
    edits = [e for e in events if isinstance(e, MessageEdited)]
    assert [(e.ref.message_id, e.ref.thread_id) for e in edits] == [
        (to_edit, None),
        (in_reply, root),
    ]
    assert edits[0].markup == "Edited <em>while</em> down"
    deletions = [e.ref.message_id for e in events if isinstance(e, MessageDeleted)]
    assert deletions == [to_redact, gone]
    assert len(matrix.received) == len(set(matrix.received))  # nothing delivered twice
    for old in (to_edit, to_redact, root, in_reply):
        assert old not in matrix.received  # nothing replayed from before the stop
