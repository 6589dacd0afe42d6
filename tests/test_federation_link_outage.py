"""A linked deployment that is down for hours, at the wire and with the default `[relay]`
settings: the loopback ActivityPub peer (tests/fakes/activitypub_peer.py) plays the other
deployment and answers 503 for six hours of the test clock. Nothing parks and nobody runs
`/relay retry`: `/relay status` says whom it is waiting for and since when, and once the
peer is back every reply arrives once, in order. The clock moves; nothing sleeps."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from bot.app import Hearth
from bot.config import Config
from knowledge.clock import ManualClock
from tests.fakes.activitypub_peer import Peer
from tests.harness.console_harness import code, drain, line, run_script
from tests.test_federation import START, base, fed_config, federation
from tests.test_federation_link_inbox import note

__all__ = ["fed_config"]

HOURS_DOWN = 6


async def test_a_deployment_down_for_hours_gets_every_reply_once_in_order_without_a_retry(
    fed_config: Callable[[str], Config],
) -> None:
    out = io.StringIO()
    clock = ManualClock(START)
    peer = Peer()
    seen: dict[str, Any] = {}

    async def link(hearth: Hearth) -> None:
        await peer.start()
        inbox = base(hearth) + "/ap/c/guild/inbox"
        follow = {**peer.follow(base(hearth) + "/ap/c/guild"), "hearthInvite": code(out)}
        await peer.post(inbox, follow, clock.now())
        await federation(hearth).run_once()
        _, follow_back = (r.activity for r in await peer.wait_for(2))
        accept = {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": f"{peer.actor}#accepts/1",
            "type": "Accept",
            "actor": peer.actor,
            "object": follow_back,
        }
        await peer.post(inbox, accept, clock.now())
        await peer.post(inbox, note(peer, 1, "Release notes thread"), clock.now())
        await federation(hearth).run_once()
        await drain(hearth)

    def reply(number: int) -> Callable[[], str]:
        def build() -> str:
            copy = re.search(r"#(\d+) Ada Lovelace \(ada\) via hearth: Release", out.getvalue())
            assert copy is not None, out.getvalue()
            return f":reply {copy[1]} note {number}"

        return build

    async def goes_down(hearth: Hearth) -> None:
        seen["before"] = len(peer.received)
        peer.fail_with = 503

    async def hours_pass(hearth: Hearth) -> None:
        await drain(hearth)
        end = clock.now() + timedelta(hours=HOURS_DOWN)
        while clock.now() < end:  # the backoff is capped at 10 minutes: 11 always passes it
            clock.advance(timedelta(minutes=11))
            await drain(hearth)
            await federation(hearth).run_once()

    async def comes_back(hearth: Hearth) -> None:
        seen["while_down"] = len(peer.received) - seen["before"]
        peer.fail_with = None
        clock.advance(timedelta(minutes=11))
        await drain(hearth)
        seen["after"] = await peer.wait_for(seen["before"] + 10)

    await run_script(
        fed_config(""),
        [
            ":as steve",
            "/constellation invite",
            link,
            goes_down,
            ":as alice",
            *(line(reply(n)) for n in range(1, 11)),
            hours_pass,
            ":as steve",
            "/relay status",
            comes_back,
            "/relay status",
        ],
        clock,
        out=out,
    )
    await peer.stop()

    text = out.getvalue()
    assert seen["while_down"] == 0
    waiting = re.search(r"waiting for 127\.0\.0\.1:(\d+) since (\S+ \S+) UTC", text)
    assert waiting is not None, text
    assert int(waiting[1]) == peer.port
    assert waiting[2] == START.strftime("%Y-%m-%d %H:%M"), "since the first reply was queued"
    assert "relay retry" not in text, "nothing parked, so nothing to retry by hand"
    notes = [a["object"]["source"]["content"] for a in peer.activities("Create")]
    assert notes == [f"note {n}" for n in range(1, 11)], "everything, once, in order"
    assert re.search(r"\(active\): \d+ delivered, 0 queued, 0 failing", text), text
    assert "link messages to their server: 2 delivered, 0 queued, 0 failing" in text, (
        "the Accept and the follow back count too"
    )
