"""APScheduler drives real time: jobs are rebuilt from the store and follow pause/resume."""

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
from scheduling.engine import schedule_of
from tests.harness.console_harness import make_config


async def test_jobs_are_rebuilt_from_the_store_and_a_firing_opens_a_round(
    database_url: str, tmp_path: Path
) -> None:
    config = make_config(database_url, tmp_path)
    # The real APScheduler; the engine reads a test clock, so "now" can be a Monday 09:00.
    clock = ManualClock(datetime.now(UTC))
    hearth = await Hearth.open(config, clock, timer=True)
    community = await hearth.services.directory.community_by_slug("guild")
    assert community is not None
    ritual = await hearth.services.rituals.store.create(
        community.id,
        NewRitual(
            name="weekly",
            kind=RitualKind.REFLECTION,
            platform="console",
            space="local",
            channel="general",
            schedule_text="weekly on monday at 9:00",
            cron="0 9 * * mon",
            timezone="Europe/Berlin",
            window_minutes=60,
        ),
    )
    posted, started = asyncio.Event(), asyncio.Event()
    out = io.StringIO()

    class Watching(io.StringIO):
        def write(self, text: str) -> int:
            if "Hearth console:" in text:  # printed once rituals have started
                started.set()
            if "💭" in text:
                posted.set()
            return out.write(text)

    never = asyncio.Event()

    async def nobody_types() -> str | None:
        await never.wait()
        return None

    adapter = ConsoleAdapter(config.adapters.console, nobody_types, Watching())
    runner = asyncio.create_task(hearth.run([adapter]))
    try:
        timer = hearth.services.rituals._timer
        assert timer is not None
        await asyncio.wait_for(started.wait(), timeout=60)
        expected = schedule_of(ritual).next_times(datetime.now(UTC), 1)[0]
        assert timer.next_run(ritual.id) == expected

        paused = await hearth.services.rituals.store.change(ritual.id, paused=True)
        hearth.services.rituals.changed(paused)
        assert timer.next_run(ritual.id) is None
        resumed = await hearth.services.rituals.store.change(ritual.id, paused=False)
        hearth.services.rituals.changed(resumed)
        assert timer.next_run(ritual.id) == expected

        # Monday 09:00 has come: APScheduler fires the job (now, in real time).
        clock.set(expected + timedelta(seconds=5))
        timer._scheduler.modify_job(f"ritual-{ritual.id}", next_run_time=datetime.now(UTC))
        await asyncio.wait_for(posted.wait(), timeout=60)
    finally:
        never.set()
        await asyncio.wait_for(runner, timeout=60)
        await hearth.close()
    assert "💭" in out.getvalue()
