"""A storm of rituals due at once: each round opened and posted once, across instances.

Rituals due together are opened in batches (`RitualEngine.open_due_many`); two Hearth
schedulers on one database fire them all at the same moment through their timer jobs'
entry point, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import io
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from adapters.console.adapter import ConsoleAdapter
from bot.app import Hearth
from knowledge.clock import ManualClock
from knowledge.rituals import NewRitual
from knowledge.vocabulary import RitualKind, RoundStatus
from tests.harness.console_harness import make_config

RITUALS = 120


async def nobody_types() -> str | None:
    await asyncio.Event().wait()  # no input: the adapter only posts
    return None


async def test_a_ritual_storm_fires_each_round_once(database_url: str, tmp_path: Path) -> None:
    start = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # 9:00 in Berlin
    hearths: list[tuple[Hearth, ConsoleAdapter]] = []
    outputs: list[io.StringIO] = []
    for n in range(2):
        config = make_config(database_url, tmp_path / f"p{n}")
        (tmp_path / f"p{n}").mkdir()
        hearth = await Hearth.open(config, ManualClock(start - timedelta(days=1)))
        out = io.StringIO()
        adapter = ConsoleAdapter(config.adapters.console, nobody_types, out)
        await adapter.connect()
        hearth.services.rituals.attach(adapter)
        await adapter.start(hearth.inbound)
        hearths.append((hearth, adapter))
        outputs.append(out)
    store = hearths[0][0].services.rituals.store
    community = await hearths[0][0].services.directory.community_by_slug("guild")
    assert community is not None
    await store.add_prompt(community.id, RitualKind.REFLECTION, "Our own question?", None)
    ids = []
    for n in range(RITUALS):
        kind = (RitualKind.REFLECTION, RitualKind.CHECKIN, RitualKind.DIGEST)[n % 3]
        ritual = await store.create(
            community.id,
            NewRitual(
                name=f"r{n}",
                kind=kind,
                platform="console",
                space="local",
                channel="general",
                schedule_text="daily at 9:00",
                cron="0 9 * * *",
                timezone="Europe/Berlin",
                window_minutes=60,
            ),
        )
        ids.append(ritual.id)
    try:
        for hearth, _ in hearths:
            hearth.services.rituals.clock.set(start + timedelta(seconds=2))  # type: ignore[attr-defined]
        # every ritual's timer job fires in both instances at once, twice (a doubled
        # wake-up does no harm)
        fired = [h.services.rituals._fire(i) for h, _ in hearths for i in ids + ids]
        await asyncio.gather(*fired)
    finally:
        for hearth, adapter in hearths:
            await adapter.stop()
            await hearth.close()
    database = hearths[0][0].database
    rounds = Counter[int]()
    reopened = await Hearth.open(make_config(database_url, tmp_path / "p0"), ManualClock(start))
    try:
        rituals = reopened.services.rituals.store
        for ritual_id in ids:
            held = await rituals.rounds(ritual_id, 5)
            rounds[ritual_id] = len(held)
            assert held[0].status in (RoundStatus.OPEN, RoundStatus.CLOSED)
            assert held[0].message_id is not None
            assert held[0].scheduled_for == start
    finally:
        await reopened.close()
    assert database is not None
    assert set(rounds.values()) == {1}  # one round per ritual, none doubled or lost
    printed = "".join(o.getvalue() for o in outputs)
    # one prompt per ritual: the reflection rotation starts with the community's own
    assert printed.count("Our own question?") == RITUALS // 3
    assert printed.count("📚 Digest") == RITUALS // 3
    assert printed.count("👋 ") == RITUALS // 3  # check-ins
