"""A storm of rituals due at once: each round opened and posted once, across instances.

Rituals due together are opened in batches (`RitualEngine.open_due_many`); two Hearth
schedulers on one database fire them all at the same moment through their timer jobs'
entry point, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.app import Hearth
from knowledge.clock import ManualClock
from knowledge.vocabulary import RitualKind, RoundStatus
from tests.harness.console_harness import make_config
from tests.harness.ritual_instances import daily_at_nine, ritual_instances

RITUALS = 120


async def test_a_ritual_storm_fires_each_round_once(database_url: str, tmp_path: Path) -> None:
    start = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # 9:00 in Berlin
    async with ritual_instances(database_url, tmp_path, start - timedelta(days=1)) as group:
        store = group.hearths[0].services.rituals.store
        community = await group.hearths[0].services.directory.community_by_slug("guild")
        assert community is not None
        await store.add_prompt(community.id, RitualKind.REFLECTION, "Our own question?", None)
        ids = []
        for n in range(RITUALS):
            kind = (RitualKind.REFLECTION, RitualKind.CHECKIN, RitualKind.DIGEST)[n % 3]
            ids.append((await store.create(community.id, daily_at_nine(f"r{n}", kind))).id)
        group.set_time(start + timedelta(seconds=2))
        # every ritual's timer job fires in both instances at once, twice (a doubled
        # wake-up does no harm)
        fired = [h.services.rituals._fire(i) for h in group.hearths for i in ids + ids]
        await asyncio.gather(*fired)
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
    assert set(rounds.values()) == {1}  # one round per ritual, none doubled or lost
    printed = group.printed()
    # one prompt per ritual: the reflection rotation starts with the community's own
    assert printed.count("Our own question?") == RITUALS // 3
    assert printed.count("📚 Digest") == RITUALS // 3
    assert printed.count("👋 ") == RITUALS // 3  # check-ins
