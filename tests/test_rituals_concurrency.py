"""Two Hearth schedulers on one database: each ritual slot opens and posts exactly once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from knowledge.vocabulary import RitualKind
from tests.harness.ritual_instances import daily_at_nine, ritual_instances


async def test_two_schedulers_post_each_round_once(database_url: str, tmp_path: Path) -> None:
    start = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)
    async with ritual_instances(database_url, tmp_path, start) as group:
        first = group.hearths[0]
        community = await first.services.directory.community_by_slug("guild")
        assert community is not None
        for name in ("a", "b", "c"):
            await first.services.rituals.store.create(
                community.id, daily_at_nine(name, RitualKind.CHECKIN)
            )
        for minutes in (0, 1, 61):  # open, again (nothing), close
            group.set_time(start + timedelta(hours=1, minutes=minutes))
            await asyncio.gather(*(h.services.rituals.tick() for h in group.hearths))
    printed = group.printed()
    assert printed.count("👋 ") == 3
    assert printed.count("round closed without responses") == 3
