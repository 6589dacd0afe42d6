"""A linked deployment that is down for hours, at the wire and with the default `[relay]`
settings: the loopback ActivityPub peer (tests/fakes/activitypub_peer.py) plays the other
deployment and answers 503 for six hours of the test clock. Nothing parks and nobody runs
`/relay retry`: `/relay status` says whom it is waiting for and since when, and once the
peer is back every reply arrives once, in order. The clock moves; nothing sleeps."""

from __future__ import annotations

import asyncio
import io
import os
import re
import subprocess
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.app import Hearth
from bot.config import Config
from knowledge.clock import ManualClock
from tests.fakes.activitypub_peer import Peer
from tests.harness.config_builder import write_config
from tests.harness.console_harness import Step, code, drain, line, run_script
from tests.harness.federation_scene import START, Scene, base, federation
from tests.test_federation import FEDERATION, fed_config, publish
from tests.test_federation_link_inbox import note

__all__ = ["fed_config"]

HOURS_DOWN = 6


def hearth_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *(str(a) for a in args)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HEARTH_CONFIG": ""},
    )


async def test_a_deployment_down_for_hours_gets_every_reply_once_in_order_without_a_retry(
    fed_config: Callable[[str], Config], database_url: str, tmp_path: Path
) -> None:
    """Also: the command line lists the linked community as one of another deployment,
    not as a local one (`hearth federation status`, `hearth export`)."""
    config_file = write_config(tmp_path / "hearth.toml", database_url, extra=FEDERATION)
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

    async def listings(hearth: Hearth) -> None:
        def run() -> None:
            seen["status"] = hearth_cli("federation", "status", "--config", config_file)
            seen["export"] = hearth_cli(
                "export", "--out", tmp_path / "export", "--config", config_file
            )
            seen["remote"] = hearth_cli(
                "export", "--community", f"ada@127.0.0.1:{peer.port}", "--config", config_file
            )

        await asyncio.to_thread(run)

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
            listings,
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

    status = seen["status"].stdout
    assert seen["status"].returncode == 0, seen["status"].stderr
    assert re.search(r"^guild: \d+ follower", status, re.M), status
    assert not re.search(r"^ada@", status, re.M), "not listed as a local community"
    assert f"communities of other deployments: ada@127.0.0.1:{peer.port} (ada)" in status
    assert seen["export"].returncode == 0, "one local community: no --community needed"
    assert "Exported" in seen["export"].stdout
    refused = seen["remote"]
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert "is a linked community of another deployment" in refused.stderr + refused.stdout

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


async def test_a_follower_down_for_hours_is_waited_for_and_parked_only_past_the_window(
    fed_config: Callable[[str], Config],
) -> None:
    """The federation queue (Follow, Accept, Create to followers) keeps the same window:
    a follower's server down for two hours gets both Creates once, in order, without a
    retry; down longer than `remote_retry_hours` (3 here), the lane parks."""
    scene = Scene()
    clock, peer, out, state = scene.clock, scene.peer, scene.out, scene.state

    def hours_pass(hours: int) -> Callable[[Hearth], Awaitable[None]]:
        async def step(hearth: Hearth) -> None:
            end = clock.now() + timedelta(hours=hours)
            while clock.now() < end:
                clock.advance(timedelta(minutes=11))
                await federation(hearth).run_once()
            state[f"after {hours} h"] = await federation(hearth).deliverer.queue.counts()

        return step

    async def back(hearth: Hearth) -> None:
        peer.fail_with = None
        clock.advance(timedelta(minutes=11))
        await federation(hearth).run_once()
        await peer.wait_for(3)
        peer.fail_with = 503

    steps: list[Step] = [":as cora", *publish(out, "First public lesson about reviews #review")]
    steps += [scene.follow(then_fail_with=503)]
    steps += [*publish(out, "Second lesson on pairing"), *publish(out, "Third lesson on retros")]
    steps += [hours_pass(2), back, *publish(out, "Fourth lesson on demos"), hours_pass(4)]
    await scene.run(fed_config("\n[relay]\nremote_retry_hours = 3\n"), steps)
    assert state["after 2 h"].get("parked", 0) == 0, "two hours down: still waited for"
    creates = [a["object"]["content"] for a in peer.activities("Create")]
    assert len(creates) == 2 and "Second" in creates[0] and "Third" in creates[1]
    assert state["after 4 h"].get("parked", 0) == 1, "past the window: parked for a person"
