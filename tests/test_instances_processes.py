"""Three `hearth run` processes on one PostgreSQL database behave as one Hearth.

A curator previews rituals on A and confirms them on B and C (the pending preview lives in
the store). A is killed; each ritual's round still opens exactly once, from B or C, and
when the instance that posted the first is killed too, the survivor opens the second: the
survivor scheduled a ritual it never saw being created (it reconciles from the store).
An `/insight` sent to each process is stored once.

The processes run on the system clock, so the rituals are set to the next minutes of the
hour (a ritual may fire at most hourly): the test waits for the wall clock, with a
generous deadline, never a fixed sleep.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from knowledge.db import open_database
from knowledge.models import Insight, Ritual, RitualRound
from knowledge.vocabulary import RoundStatus
from tests.conftest import _truncate
from tests.harness.config_builder import write_config
from tests.harness.processes import HearthProcess

pytestmark = pytest.mark.postgres
READY = "Hearth console: you are"
WAIT = 200.0  # seconds: the wall clock has to reach the rituals' minutes


def seeded_transcript(path: Path, first_id: int) -> Path:
    """Message ids are unique platform-wide on a real platform; each console keeps its own
    transcript, so each starts at its own range."""
    if first_id:
        record = {
            "id": first_id,
            "space": "local",
            "channel": "elsewhere",
            "user": "seed",
            "text": "seed",
            "at": "2026-01-01T00:00:00+00:00",
        }
        path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    return path


def first_line(processes: list[HearthProcess], pattern: str, timeout: float) -> HearthProcess:
    """The process that prints a line matching `pattern` first (read as lines arrive)."""
    deadline = time.monotonic() + timeout
    while True:
        for process in processes:
            try:
                line = process.next_line(min(deadline, time.monotonic() + 0.2))
            except AssertionError:
                if time.monotonic() >= deadline:
                    raise AssertionError(
                        f"no process printed {pattern!r} in {timeout} s\n"
                        + "\n".join(p.describe("---") for p in processes)
                    ) from None
                continue
            if line is not None and re.search(pattern, line):
                return process


async def _rounds(url: str, name: str) -> list[RoundStatus]:
    database = open_database(url)
    try:
        async with database.sessions() as session:
            rows = await session.scalars(
                select(RitualRound.status).join(Ritual).where(Ritual.name == name)
            )
            return list(rows)
    finally:
        await database.dispose()


def wait_opened(process: HearthProcess, name: str) -> None:
    """Until the poster says the round is recorded as open (its post and record are done):
    ask it, answer by answer, never sleeping."""
    for _ in range(100):
        process.send(f"/ritual show {name}")
        status = process.expect(r"^\s+\d{4}-\d\d-\d\d \d\d:\d\d UTC: (\w+)")[1]
        if status == "open":
            return
    raise AssertionError(f"{name}: the round was never recorded as open")


async def _insight_counts(url: str) -> dict[str, int]:
    database = open_database(url)
    try:
        async with database.sessions() as session:
            rows = await session.execute(select(Insight.body, func.count()).group_by(Insight.body))
            return {body: count for body, count in rows}
    finally:
        await database.dispose()


def test_three_instances_confirm_anywhere_and_fire_each_round_once(
    postgres_url: str, tmp_path: Path
) -> None:
    asyncio.run(_truncate(postgres_url))
    configs = []
    for name, first_id in (("a", 0), ("b", 100_000), ("c", 200_000)):
        transcript = seeded_transcript(tmp_path / f"console-{name}.jsonl", first_id)
        config = write_config(tmp_path / f"hearth-{name}.toml", postgres_url, transcript=transcript)
        with config.open("a", encoding="utf-8") as f:
            f.write("\n[rituals]\nreconcile_seconds = 1.0\n")
        configs.append(config)

    a, b, c = (HearthProcess(config, tmp_path) for config in configs)
    with a, b, c:
        for process in (a, b, c):
            process.expect(READY)
            process.send(":as steve")
            process.expect("you are now steve")
        # The rituals' minutes: the first at least 20 s away (time to save both).
        first = (datetime.now(UTC) + timedelta(seconds=80)).replace(second=0, microsecond=0)
        second = first + timedelta(minutes=1)
        for minute, name, confirm_on in ((first, "first", b), (second, "second", c)):
            a.send(f"/ritual add reflection here {minute.minute} * * * * name:{name} | {name} ok?")
            a.expect("ritual confirm to save it")
            confirm_on.send("/ritual confirm")
            confirm_on.expect(rf"Ritual {name} saved")
        for process, name in ((a, "A"), (b, "B"), (c, "C")):
            process.send(f"/insight Instance {name} keeps this")
            process.expect("Captured insight #")
        a.kill()

        poster = first_line([b, c], r"hearth: 💭 first ok\?", WAIT)
        wait_opened(poster, "first")
        poster.kill()
        survivor = c if poster is b else b
        survivor.expect(r"hearth: 💭 second ok\?", WAIT)
        wait_opened(survivor, "second")
        survivor.send("/search keeps")  # a round trip: what it printed before is read now
        survivor.expect("Instance")

    posts = [line for p in (b, c) for line in p.lines if "hearth: 💭" in line]
    assert len(posts) == 2, posts
    assert sum("first ok?" in line for line in posts) == 1
    assert sum("second ok?" in line for line in posts) == 1
    assert asyncio.run(_rounds(postgres_url, "first")) == [RoundStatus.OPEN]
    assert asyncio.run(_insight_counts(postgres_url)) == {
        f"Instance {name} keeps this": 1 for name in "ABC"
    }
