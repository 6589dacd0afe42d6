"""A 1,000-message relay burst survives SIGKILL at random points: every message arrives
once, in order.

Real processes (`python -m bot run`), really killed: between a message reaching the
transcript and its relay being queued (catch-up finds it after the restart), between a
copy being posted and the outbox knowing (the idempotency key finds it), and anywhere
else the random points fall.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

from tests.harness.config_builder import FORGE, GUILD, write_config
from tests.harness.processes import HearthProcess

BURST = 1000
KILLS = 3
TIMEOUT = 300.0  # the longest silence tolerated (see HearthProcess.expect): a hang guard
BANNER = r"^Hearth console: you are alice"


def messages(transcript: Path) -> dict[int, dict[str, Any]]:
    latest: dict[int, dict[str, Any]] = {}
    for line in transcript.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # torn by the kill
        latest[record["id"]] = record
    return latest


def posted_by_alice(transcript: Path, root: int) -> set[int]:
    return {
        int(m["text"][1:])
        for m in messages(transcript).values()
        if m["user"] == "alice" and m["reply_to"] == root and re.fullmatch(r"m\d+", m["text"])
    }


async def test_burst_survives_kill_9_exactly_once_in_order(
    database_url: str, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "hearth.toml", database_url, GUILD, FORGE)
    transcript = tmp_path / "console.jsonl"
    rng = random.Random(7)

    with HearthProcess(config, tmp_path) as setup:
        setup.expect(BANNER)
        setup.send(":as steve", "/constellation invite")
        code = setup.expect(r"(HL-[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4})")[1]
        setup.send(":as fran", ":channel hall", f"/constellation accept {code}")
        setup.expect(r"Linked with The Guild")
        setup.send(":channel general", ":as alice", "Burst root")
        root = int(setup.expect(r"^#(\d+) alice: Burst root$")[1])
        setup.send(f":reply {root} /relay")
        setup.expect(r"alice \(The Guild\) via hearth: Burst root")
        assert setup.quit() == 0, setup.describe("unclean exit")

    kills = sorted(rng.sample(range(50, BURST - 50), KILLS))
    for point in [*kills, None]:
        missing = sorted(set(range(1, BURST + 1)) - posted_by_alice(transcript, root))
        with HearthProcess(config, tmp_path) as process:
            process.expect(BANNER, timeout=TIMEOUT)
            process.send(*(f":reply {root} m{n}" for n in missing))
            if point is None:  # the last run: wait until the last copy is there
                process.expect(rf"via hearth → #\d+: m{BURST}$", timeout=TIMEOUT)
                assert process.quit() == 0, process.describe("unclean exit")
            else:
                process.expect(rf"^#\d+ alice → #{root}: m{point}$", timeout=TIMEOUT)
                process.kill(after=rng.uniform(0, 0.05))

    everything = messages(transcript)
    copies = [
        m
        for _, m in sorted(everything.items())
        if m["channel"] == "hall" and m.get("shown_as") == "alice (The Guild)" and not m["deleted"]
    ]
    numbers = [int(m["text"].split("\n")[0][1:]) for m in copies[1:]]  # [0] is the root
    assert copies[0]["text"].startswith("Burst root")
    assert len(numbers) == len(set(numbers)), "a message was relayed twice"
    assert numbers == list(range(1, BURST + 1)), "lost or out of order"
    anchor = copies[0]["id"]
    assert all(m["reply_to"] == anchor for m in copies[1:]), "every copy is in the thread"
