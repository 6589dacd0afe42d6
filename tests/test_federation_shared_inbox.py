"""Shared knowledge with a linked deployment, at the wire: the loopback ActivityPub peer
(tests/fakes/activitypub_peer.py) plays the other deployment's community `ada`, linked
to the guild, both sharing knowledge. The guild's shared insight reaches it as a signed
`Create(Article)` addressed to it only once both stewards said so (`Add` to
`…/sharing-with`, each way), its edit as `Update`, un-sharing as `Delete`;
the peer's `Announce` counts as its adoption until its `Undo`. The peer's hostile
Article is searchable with `scope:constellation`, credited `ada@host`, defused, stored
once however often it is sent, adoptable (an `Announce` goes back, its deletion an
`Undo`), and gone after its `Delete`. While the guild pauses the link, nothing new
goes out (the pause is told, `Add` to `…/paused-with`); on resume it does. The peer's
pause hides its knowledge here as a sibling's would; its `Remove` of sharing withdraws
what the guild shared with it. An unlinked server's signed Article and Announce
change nothing."""

from __future__ import annotations

import io
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bot.app import Hearth
from bot.config import Config
from bot.federation.documents import Urls
from bot.federation.share_inbox import hashtags, our_insight_id
from bot.federation.shared_documents import PAUSED, SHARING, consent_of
from knowledge.clock import ManualClock
from tests.fakes.activitypub_peer import Peer
from tests.harness.console_harness import code, drain, line, run_script
from tests.test_federation import START, base, fed_config, federation, get, signed_by
from tests.test_shared_knowledge import captured

__all__ = ["fed_config"]

AS = "https://www.w3.org/ns/activitystreams"
PUBLIC = AS + "#Public"
HOSTILE = "Ship it <script>alert(1)</script> @everyone [x](javascript:alert(2))"


def article(
    peer: Peer, number: int, text: str, activity: str = "Create", *, to: str
) -> dict[str, Any]:
    object_id = f"{peer.actor}/i/{number}"
    return {
        "@context": AS,
        "id": f"{object_id}#{activity.lower()}-{len(text)}",
        "type": activity,
        "actor": peer.actor,
        "to": [to],
        "object": {
            "id": object_id,
            "type": "Article",
            "to": [to],
            "attributedTo": peer.actor,
            "name": "Release @here\nday",
            "content": "<p>ignored when a source is given</p>",
            "source": {"content": text, "mediaType": "text/markdown"},
            "tag": [{"type": "Hashtag", "name": "#shipping"}, {"type": "Hashtag", "name": "#"}],
            "hearthAuthor": "Ada\nLovelace",
        },
    }


def withdraw(peer: Peer, number: int, to: str) -> dict[str, Any]:
    object_id = f"{peer.actor}/i/{number}"
    activity = {"@context": AS, "id": f"{object_id}#delete-{len(to)}", "type": "Delete"}
    return activity | {"actor": peer.actor, "to": [to], "object": object_id}


def consent(peer: Peer, to: str, what: str, on: bool, number: int) -> dict[str, Any]:
    """The peer's steward turning sharing (`sharing-with`) or the pause (`paused-with`)."""
    activity = {"@context": AS, "id": f"{peer.actor}#consent-{number}"}
    activity |= {"type": "Add" if on else "Remove", "actor": peer.actor, "object": to}
    return activity | {"target": f"{peer.actor}/{what}"}


def announce(peer: Peer, object_id: str, undo: bool = False) -> dict[str, Any]:
    activity = {"@context": AS, "id": f"{peer.actor}/adopted/9", "type": "Announce"}
    activity |= {"actor": peer.actor, "object": object_id}
    if not undo:
        return activity
    inner = {k: v for k, v in activity.items() if k != "@context"}
    return {"@context": AS, "id": f"{activity['id']}#undo", "type": "Undo"} | {
        "actor": peer.actor,
        "object": inner,
    }


async def test_shared_knowledge_travels_both_ways_only_over_a_link_and_defused(
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
        seen["inbox"], seen["actor"] = inbox, base(hearth) + "/ap/c/guild"
        follow = {**peer.follow(seen["actor"]), "hearthInvite": code(out)}
        await peer.post(inbox, follow, clock.now())
        await federation(hearth).run_once()
        _, follow_back = (r.activity for r in await peer.wait_for(2))
        answer: dict[str, Any] = {"@context": AS, "id": f"{peer.actor}#accepts/1"}
        answer["type"] = "Accept"
        answer |= {"actor": peer.actor, "object": follow_back}
        await peer.post(inbox, answer, clock.now())
        await federation(hearth).run_once()
        seen["key"] = (await get(hearth, "/ap/c/guild"))[1]["publicKey"]["publicKeyPem"]

    def sent(count: int) -> Callable[[Hearth], Awaitable[None]]:
        """Hearth's loop once; then until the peer holds `count` POSTs."""

        async def step(hearth: Hearth) -> None:
            await federation(hearth).run_once()
            seen["last"] = (await peer.wait_for(count))[-1]

        return step

    def posts(
        *activities: Callable[[], tuple[Peer, dict[str, Any]]],
    ) -> Callable[[Hearth], Awaitable[None]]:
        async def step(hearth: Hearth) -> None:
            for make in activities:
                sender, activity = make()
                seen.setdefault("answers", []).append(
                    await sender.post(seen["inbox"], activity, clock.now())
                )
            await federation(hearth).run_once()
            await drain(hearth)

        return step

    def ours() -> str:
        return f"{seen['actor']}/i/{captured(out, 'Pair on release days')}"

    def theirs() -> str:
        found = re.findall(r"#(\d+) \(from ada\)", out.getvalue())
        assert found, out.getvalue()
        return str(found[-1])

    def adopted() -> str:
        return str(re.findall(r"Adopted as insight #(\d+)", out.getvalue())[-1])

    def quiet(name: str) -> Callable[[Hearth], Awaitable[None]]:
        async def step(hearth: Hearth) -> None:
            await federation(hearth).run_once()  # delivers whatever is due now
            seen[name] = [r.activity for r in peer.received]

        return step

    async def later(_: Hearth) -> None:
        clock.advance(timedelta(minutes=5))

    def remember(name: str) -> Callable[[Hearth], Awaitable[None]]:
        async def step(_: Hearth) -> None:
            seen[name] = seen["last"].activity
            seen.setdefault("received", []).append(seen["last"])

        return step

    await run_script(
        fed_config(""),
        [
            ":as steve",
            "/constellation invite",
            link,
            line(lambda: f"/constellation share ada@127.0.0.1:{peer.port} on"),
            sent(3),
            remember("consent"),
            ":as cora",
            "/insight Pair on release days @everyone #practice",
            line(lambda: f"/insight share {captured(out, 'Pair on release days')} constellation"),
            quiet("before their consent"),
            posts(lambda: (peer, consent(peer, seen["actor"], "sharing-with", True, 1))),
            sent(4),
            remember("create"),
            later,
            line(
                lambda: (
                    f"/insight edit {captured(out, 'Pair on release days')} Pair on release days and demos"
                )
            ),
            sent(5),
            remember("update"),
            posts(lambda: (peer, announce(peer, ours()))),
            ":as steve",
            "/constellation knowledge",
            posts(lambda: (peer, announce(peer, ours(), undo=True))),
            "/constellation knowledge",
            posts(
                lambda: (peer, article(peer, 1, HOSTILE, to=seen["actor"])),
                lambda: (peer, article(peer, 1, HOSTILE, to=seen["actor"])),  # redelivered
                lambda: (stranger, article(stranger, 2, "Unlinked words", to=seen["actor"])),
                # what it publishes to its followers (a linked deployment follows) is no share
                lambda: (peer, article(peer, 3, "Public words", to=PUBLIC)),
                lambda: (peer, withdraw(peer, 1, PUBLIC)),
                lambda: (stranger, announce(stranger, ours())),
            ),
            ":as alice",
            "/search ship scope:constellation",
            "/search unlinked scope:constellation",
            "/search public scope:constellation",
            ":as steve",
            "/constellation knowledge",
            line(lambda: f"/insight adopt {theirs()}"),
            sent(6),
            remember("announce"),
            line(lambda: f"/insight delete {adopted()}"),
            sent(7),
            remember("undo"),
            ":as cora",
            line(lambda: f"/insight share {captured(out, 'Pair on release days')} community"),
            sent(8),
            remember("delete"),
            posts(lambda: (peer, withdraw(peer, 1, seen["actor"]))),
            ":as alice",
            "/search ship scope:constellation",
            ":as steve",
            line(lambda: f"/constellation pause ada@127.0.0.1:{peer.port}"),
            ":as cora",
            "/insight Keep demos short #demo",
            line(lambda: f"/insight share {captured(out, 'Keep demos short')} constellation"),
            quiet("while paused"),
            ":as steve",
            line(lambda: f"/constellation resume ada@127.0.0.1:{peer.port}"),
            sent(11),
            remember("resumed"),
            # their steward pauses: here too their side is paused, as a sibling's would be
            posts(lambda: (peer, consent(peer, seen["actor"], "paused-with", True, 2))),
            "/constellation knowledge",
            posts(lambda: (peer, consent(peer, seen["actor"], "paused-with", False, 3))),
            "/constellation knowledge",
            # their steward stops sharing: what the guild shared with them is withdrawn
            posts(lambda: (peer, consent(peer, seen["actor"], "sharing-with", False, 4))),
            sent(12),
            remember("withdrawn"),
            "/constellation knowledge",
        ],
        clock,
        out=out,
    )
    await peer.stop()
    await stranger.stop()
    text = out.getvalue()

    create, update = seen["create"], seen["update"]
    assert create["type"] == "Create" and create["object"]["type"] == "Article"
    assert create["to"] == [peer.actor] and PUBLIC not in str(create), "not public"
    assert create["object"]["id"] == ours()
    assert "@everyone" not in create["object"]["content"], "defused in the HTML"
    assert update["type"] == "Update" and "and demos" in update["object"]["source"]["content"]
    assert all(signed_by(seen["key"], received) for received in seen["received"])
    assert "ada: we share 1, they share 0; we adopted 0 of theirs, they adopted 1 of ours" in text
    assert "they adopted 0 of ours" in text, "un-adopted by Undo(Announce)"
    assert all(answer == 202 for answer in seen["answers"])
    hits = re.findall(r"^.*\(from ada\).*$", text, re.M)
    assert hits, text
    assert "ada@127.0.0.1" in text, "credited community@host"
    assert "@everyone" not in "".join(hits) and "@\u200beveryone" in hits[0], "defused"
    assert "Release @\u200bhere day" in hits[0], "the title too, on one line"
    assert "Unlinked words" not in text and "No insights match “unlinked”" in text
    assert "No insights match “public”" in text, "a public Article is not a share"
    assert "ada: we share 1, they share 1; we adopted 0 of theirs, they adopted 0 of ours" in text
    assert seen["announce"]["type"] == "Announce"
    assert seen["announce"]["object"] == f"{peer.actor}/i/1"
    assert seen["undo"]["type"] == "Undo" and seen["undo"]["object"]["type"] == "Announce"
    assert seen["delete"]["type"] == "Delete" and seen["delete"]["object"]["id"] == ours()
    said = seen["consent"]
    assert said["type"] == "Add" and said["object"] == peer.actor, "the steward's word, sent"
    assert said["target"] == seen["actor"] + "/sharing-with"
    assert len(seen["before their consent"]) == 3, "nothing shared before they consent"
    paused = seen["while paused"]
    assert len(paused) == 9, "a paused side sends nothing new"
    assert (paused[-1]["type"], paused[-1]["target"]) == ("Add", seen["actor"] + "/paused-with")
    resumed = [r.activity for r in peer.received[9:11]]
    assert [a["type"] for a in resumed] == ["Remove", "Create"], "resume told, then the share"
    assert seen["resumed"]["type"] == "Create", "until it resumes"
    assert "Keep demos short" in seen["resumed"]["object"]["source"]["content"]
    gone = seen["withdrawn"]
    assert gone["type"] == "Delete" and "Keep demos" not in str(gone), "withdrawn on their Remove"
    assert gone["object"]["id"] == f"{seen['actor']}/i/{captured(out, 'Keep demos short')}"
    knowledge = text.split("steve: /constellation knowledge")[-3:]
    assert "No linked community shares" in knowledge[0], "their pause, mirrored here"
    assert "ada: we share" in knowledge[1], "their resume"
    assert "No linked community shares" in knowledge[2], "their sharing off"
    last = text.rsplit("alice: /search ship scope:constellation", 1)[1]
    assert "No insights match “ship” across the constellation." in last, "gone on Delete"


@given(st.integers(min_value=0, max_value=10**17), st.text(max_size=60))
def test_only_this_communitys_article_ids_name_an_insight(number: int, junk: str) -> None:
    urls = Urls("https://garden.example.org", "guild")
    assert our_insight_id(urls.insight(number), urls) == number
    found = our_insight_id(urls.insight(0)[:-1] + junk, urls)
    assert found is None or (junk.isascii() and junk.isdigit() and found == int(junk))
    assert our_insight_id(Urls("https://other.example", "guild").insight(number), urls) is None


def _json_children(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(inner, max_size=5) | st.dictionaries(
        st.sampled_from(["type", "name", "href"]), inner | st.just("Hashtag"), max_size=3
    )


@given(st.recursive(st.none() | st.text(max_size=20) | st.integers(), _json_children))
def test_any_tag_list_gives_kept_tags_or_none(value: Any) -> None:
    tags = hashtags({"tag": value})
    assert isinstance(tags, tuple) and len(tags) <= 20


@given(st.text(max_size=40), st.text(max_size=80))
def test_only_the_senders_own_sharing_or_pause_collection_is_a_steward_word(
    tail: str, target: str
) -> None:
    actor = "https://forge.example/ap/c/forge"
    assert consent_of(actor, f"{actor}/sharing-with") == SHARING
    assert consent_of(actor, f"{actor}/paused-with") == PAUSED
    said = consent_of(actor, target)
    assert said is None or target == f"{actor}/{said}"
    assert consent_of(actor, f"https://other.example/ap/c/forge/{tail}") is None
    assert consent_of(actor, {"id": f"{actor}/sharing-with"}) is None, "a plain id only"
