"""Redelivered platform events: skipped once handled, held while a live instance handles
them, and handed at once to the next instance when their taker died.

Death is real: another process takes the event and is killed with SIGKILL, as systemd or
Docker restarting a crashed Hearth would see it.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from knowledge.db import Database, open_database
from knowledge.inbound import LEASE, InboundLog, StillInFlight, Taken
from knowledge.models import InboundEvent

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)
WAIT = 20.0


@asynccontextmanager
async def taker_process(
    database_url: str, event_id: str
) -> AsyncIterator[asyncio.subprocess.Process]:
    """Another Hearth instance that took `event_id` (and holds it until killed)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.harness.inbound_taker",
        database_url,
        "slack",
        event_id,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ},
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), WAIT)
        assert line.strip() == b"taken", line
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def kill(process: asyncio.subprocess.Process) -> None:
    process.kill()  # SIGKILL: no clean-up of the taker runs
    await asyncio.wait_for(process.wait(), WAIT)


@asynccontextmanager
async def other_instance(database_url: str) -> AsyncIterator[InboundLog]:
    """A second live instance in this process (its own connection / lock file)."""
    database = open_database(database_url)
    try:
        yield InboundLog(database)
    finally:
        await database.dispose()


async def test_a_handled_event_is_never_taken_again(database: Database) -> None:
    log = InboundLog(database)
    assert await log.take("slack", "Ev1", NOW) == Taken(resumed=False)
    await log.done("slack", "Ev1")
    assert await log.take("slack", "Ev1", NOW + LEASE * 10) is None
    assert await log.take("discord", "Ev1", NOW)  # ids are per platform


async def test_an_event_in_flight_here_is_not_handled_twice(database: Database) -> None:
    log = InboundLog(database)
    assert await log.take("slack", "Ev2", NOW)
    assert await log.take("slack", "Ev2", NOW + LEASE / 2) is None  # this instance has it
    assert await InboundLog(database).take("slack", "Ev2", NOW) is None  # same process
    # Unfinished here long after (its handler failed): a redelivery retries it, once.
    assert await log.take("slack", "Ev2", NOW + LEASE * 2) == Taken(resumed=True)
    assert await log.take("slack", "Ev2", NOW + LEASE * 2) is None


async def test_an_event_taken_by_a_live_instance_is_not_handled_twice(
    database_url: str, database: Database
) -> None:
    async with other_instance(database_url) as first:
        assert await first.take("slack", "Ev3", NOW)
        mine = InboundLog(database)
        assert await mine.take("slack", "Ev3", NOW + LEASE * 10) is None  # no lease guessing
        with pytest.raises(StillInFlight):
            await mine.take("slack", "Ev3", NOW, wait=0.5)

        waiting = asyncio.ensure_future(mine.take("slack", "Ev3", NOW, wait=WAIT))
        await first.done("slack", "Ev3")
        assert await waiting is None  # it was finished elsewhere: skipped, never handled twice


async def test_an_event_taken_by_a_dead_instance_is_handed_on_at_once(
    database_url: str, database: Database
) -> None:
    async with taker_process(database_url, "Ev4") as taker:
        log = InboundLog(database)
        assert await log.take("slack", "Ev4", NOW) is None  # its taker is alive
        await kill(taker)
        assert await log.take("slack", "Ev4", NOW) == Taken(resumed=True)  # no lease to wait
        assert await log.take("slack", "Ev4", NOW) is None  # now ours
        await log.done("slack", "Ev4")


async def test_a_waiting_redelivery_takes_over_when_the_taker_dies(
    database_url: str, database: Database
) -> None:
    async with taker_process(database_url, "Ev5") as taker:
        waiting = asyncio.ensure_future(InboundLog(database).take("slack", "Ev5", wait=WAIT))
        finished, _ = await asyncio.wait({waiting}, timeout=0.5)
        assert not finished, "it holds while the taker lives"
        await kill(taker)
        assert await waiting == Taken(resumed=True)


async def test_two_survivors_never_both_take_over_a_dead_taker(
    database_url: str, database: Database
) -> None:
    async with taker_process(database_url, "Ev6") as taker:
        await kill(taker)
    async with other_instance(database_url) as other:
        results = await asyncio.gather(
            InboundLog(database).take("slack", "Ev6", NOW), other.take("slack", "Ev6", NOW)
        )
    assert sorted(r is not None for r in results) == [False, True]


async def test_rows_without_a_taker_fall_back_to_the_lease(database: Database) -> None:
    log = InboundLog(database)
    assert await log.take("slack", "Ev7", NOW)
    async with database.sessions.begin() as session:  # as written before takers existed
        await session.execute(update(InboundEvent).values(taken_by=None))
    assert await log.take("slack", "Ev7", NOW + timedelta(seconds=5)) is None
    assert await log.take("slack", "Ev7", NOW + LEASE + timedelta(seconds=1)) == Taken(True)
    assert await log.take("slack", "Ev7", NOW + LEASE + timedelta(seconds=2)) is None  # ours now
