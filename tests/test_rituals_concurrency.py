"""Two Hearth schedulers on one database: each ritual slot opens and posts exactly once."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

from adapters.console.adapter import ConsoleAdapter
from bot.app import Hearth
from knowledge.clock import ManualClock
from knowledge.rituals import NewRitual
from knowledge.vocabulary import RitualKind
from tests.harness.console_harness import make_config


async def nobody_types() -> str | None:
    await asyncio.Event().wait()  # no input: the adapter only posts
    return None


async def test_two_schedulers_post_each_round_once(database_url: str, tmp_path: Path) -> None:
    start = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)
    outputs = []
    hearths = []
    for n in range(2):
        config = make_config(database_url, tmp_path / f"p{n}")
        (tmp_path / f"p{n}").mkdir()
        hearth = await Hearth.open(config, ManualClock(start))
        out = io.StringIO()
        adapter = ConsoleAdapter(config.adapters.console, nobody_types, out)
        await adapter.connect()
        hearth.services.rituals.attach(adapter)
        await adapter.start(hearth.inbound)
        hearths.append((hearth, adapter))
        outputs.append(out)
    first = hearths[0][0]
    community = await first.services.directory.community_by_slug("guild")
    assert community is not None
    for name in ("a", "b", "c"):
        await first.services.rituals.store.create(
            community.id,
            NewRitual(
                name=name,
                kind=RitualKind.CHECKIN,
                platform="console",
                space="local",
                channel="general",
                schedule_text="daily at 9:00",
                cron="0 9 * * *",
                timezone="Europe/Berlin",
                window_minutes=60,
            ),
        )
    try:
        for minutes in (0, 1, 61):  # open, again (nothing), close
            moment = start + timedelta(hours=1, minutes=minutes)
            for hearth, _ in hearths:
                hearth.services.rituals.clock.set(moment)  # type: ignore[attr-defined]
            await asyncio.gather(*(h.services.rituals.tick() for h, _ in hearths))
    finally:
        for hearth, adapter in hearths:
            await adapter.stop()
            await hearth.close()
    printed = "".join(o.getvalue() for o in outputs)
    assert printed.count("👋 ") == 3
    assert printed.count("round closed without responses") == 3
