"""What a linked deployment may make Hearth do, at the wire: the loopback ActivityPub peer
(tests/fakes/activitypub_peer.py) plays the other deployment. It accepts the guild's
code with a signed Follow (Hearth answers Accept and follows back, both signed), accepts
that Follow, then relays a hostile Note: it is posted into #general attributed, with its
mass mention defused, once however often it is sent. A Note
from a server with no link, or naming another server's id, changes nothing; a reply in
#general goes back as a signed Create(Note) in the thread; a paused link carries
nothing until resumed."""

from __future__ import annotations

import io
import re
from collections.abc import Awaitable, Callable
from typing import Any

from bot.app import Hearth
from bot.config import Config
from knowledge.clock import ManualClock
from tests.fakes.activitypub_peer import Peer
from tests.harness.console_harness import code, drain, line, run_script
from tests.test_federation import START, base, fed_config, federation, get, signed_by

__all__ = ["fed_config"]

HOSTILE = "Ship it <script>alert(1)</script> @everyone [x](javascript:alert(2))"


def note(peer: Peer, number: int, text: str, **more: Any) -> dict[str, Any]:
    note_id = f"{peer.actor}/n/{number}"
    return {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{note_id}#create",
        "type": "Create",
        "actor": peer.actor,
        "object": {
            "id": note_id,
            "type": "Note",
            "attributedTo": peer.actor,
            "content": "<p>ignored when a source is given</p>",
            "source": {"content": text, "mediaType": "text/markdown"},
            "context": note_id,
            "hearthAuthor": "Ada\nLovelace",
            **more,
        },
    }


async def test_only_a_linked_signed_peer_is_heard_and_what_it_says_is_defused(
    fed_config: Callable[[str], Config],
) -> None:
    out = io.StringIO()
    clock = ManualClock(START)
    peer, stranger = Peer(), Peer()
    seen: dict[str, Any] = {}

    async def link(hearth: Hearth) -> None:
        await peer.start()
        await stranger.start()
        inbox = base(hearth) + "/ap/c/guild/inbox"
        seen["inbox"] = inbox
        follow = {**peer.follow(base(hearth) + "/ap/c/guild"), "hearthInvite": code(out)}
        seen["stranger"] = await stranger.post(
            inbox, note(stranger, 1, "Unlinked words"), clock.now()
        )
        seen["follow"] = await peer.post(inbox, follow, clock.now())
        await federation(hearth).run_once()
        accept, follow_back = (r.activity for r in await peer.wait_for(2))
        seen["accept"], seen["follow_back"] = accept, follow_back
        answer = {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": f"{peer.actor}#accepts/1",
            "type": "Accept",
            "actor": peer.actor,
            "object": follow_back,
        }
        await peer.post(inbox, answer, clock.now())
        await federation(hearth).run_once()
        seen["key"] = (await get(hearth, "/ap/c/guild"))[1]["publicKey"]["publicKeyPem"]

    async def relay(hearth: Hearth) -> None:
        inbox = seen["inbox"]
        seen["note"] = await peer.post(inbox, note(peer, 1, HOSTILE), clock.now())
        seen["again"] = await peer.post(inbox, note(peer, 1, HOSTILE), clock.now())
        elsewhere = note(peer, 2, "Borrowed id")
        elsewhere["object"]["id"] = "http://elsewhere.example/n/2"
        await peer.post(inbox, elsewhere, clock.now())
        await federation(hearth).run_once()
        await drain(hearth)

    def reply() -> str:
        copy = re.search(r"#(\d+) Ada Lovelace \(ada\) via hearth: Ship it", out.getvalue())
        assert copy is not None, out.getvalue()
        return f":reply {copy[1]} Thanks, shipping"

    async def back(hearth: Hearth) -> None:
        await drain(hearth)
        seen["reply"] = (await peer.wait_for(3))[-1].activity

    def pause(verb: str) -> Callable[[Hearth], Awaitable[str]]:
        async def step(_: Hearth) -> str:
            return f"/constellation {verb} ada@127.0.0.1:{peer.port}"

        return step

    def said(number: int, words: str) -> Callable[[Hearth], Awaitable[None]]:
        async def step(hearth: Hearth) -> None:
            await peer.post(seen["inbox"], note(peer, number, words), clock.now())
            await federation(hearth).run_once()
            await drain(hearth)

        return step

    await run_script(
        fed_config(""),
        [
            ":as steve",
            "/constellation invite",
            link,
            relay,
            ":as alice",
            line(reply),
            back,
            ":as steve",
            pause("pause"),
            said(3, "Said while paused"),
            pause("resume"),
            said(4, "Said after resuming"),
        ],
        clock,
        out=out,
    )
    await peer.stop()
    await stranger.stop()

    text = out.getvalue()
    assert seen["stranger"] == 202, "signed, so written; but nothing is relayed"
    assert "Unlinked words" not in text
    assert seen["follow"] == 202 and seen["accept"]["type"] == "Accept"
    assert seen["follow_back"]["type"] == "Follow" and seen["follow_back"]["object"] == peer.actor
    assert "hearthInvite" not in str(seen["accept"]), "the code is not sent back"
    assert re.search(r"Linked with ada \(ada@127\.0\.0\.1:\d+\)", text)
    copies = re.findall(r"Ada Lovelace \(ada\) via hearth: Ship it(.*)", text)
    assert len(copies) == 1, "once, however often it is sent"
    assert "@everyone" not in copies[0] and "@\u200beveryone" in copies[0], "defused"
    assert "Borrowed id" not in text
    assert "Said while paused" not in text, "a paused link carries nothing, as at home"
    assert re.search(r"Ada Lovelace \(ada\) via hearth: Said after resuming", text)
    sent = seen["reply"]
    assert sent["type"] == "Create" and sent["object"]["type"] == "Note"
    assert sent["object"]["inReplyTo"] == f"{peer.actor}/n/1"
    assert sent["object"]["context"] == f"{peer.actor}/n/1"
    assert sent["object"]["hearthAuthor"] == "alice"
    assert "Thanks, shipping" in sent["object"]["content"]
    assert signed_by(seen["key"], peer.received[-1])
