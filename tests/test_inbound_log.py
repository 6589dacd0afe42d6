"""Redelivered platform events: skipped once handled, retried if their handler died."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from knowledge.db import Database
from knowledge.inbound import LEASE, InboundLog


async def test_a_handled_event_is_never_taken_again(database: Database) -> None:
    log = InboundLog(database)
    now = datetime(2026, 11, 28, 12, tzinfo=UTC)
    assert await log.take("slack", "Ev1", now)
    await log.done("slack", "Ev1")
    assert not await log.take("slack", "Ev1", now + LEASE * 10)


async def test_an_event_in_flight_elsewhere_is_skipped_until_its_lease_runs_out(
    database: Database,
) -> None:
    log = InboundLog(database)
    now = datetime(2026, 11, 28, 12, tzinfo=UTC)
    assert await log.take("slack", "Ev2", now)
    assert not await log.take("slack", "Ev2", now + timedelta(seconds=5))  # still being handled
    assert await log.take("slack", "Ev2", now + LEASE + timedelta(seconds=1))  # taker died
    assert not await log.take("slack", "Ev2", now + LEASE + timedelta(seconds=2))
    assert await log.take("discord", "Ev2", now)  # ids are per platform
