"""Several Hearth schedulers on one database, each posting to its own console: for the
tests that prove a ritual round opens and posts once however many instances run."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
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


@dataclass(frozen=True)
class Instances:
    hearths: list[Hearth]
    clocks: list[ManualClock]
    outputs: list[io.StringIO]

    def set_time(self, moment: datetime) -> None:
        for clock in self.clocks:
            clock.set(moment)

    def printed(self) -> str:
        return "".join(out.getvalue() for out in self.outputs)


@asynccontextmanager
async def ritual_instances(
    database_url: str, tmp_path: Path, now: datetime, count: int = 2
) -> AsyncIterator[Instances]:
    """`count` instances with their rituals attached to a console each, stopped at the end."""
    group = Instances([], [], [])
    adapters: list[ConsoleAdapter] = []
    try:
        for n in range(count):
            folder = tmp_path / f"p{n}"
            config = make_config(database_url, folder)
            folder.mkdir()
            clock = ManualClock(now)
            hearth = await Hearth.open(config, clock)
            group.hearths.append(hearth)
            out = io.StringIO()
            adapter = ConsoleAdapter(config.adapters.console, nobody_types, out)
            await adapter.connect()
            adapters.append(adapter)
            hearth.services.rituals.attach(adapter)
            await adapter.start(hearth.inbound)
            group.clocks.append(clock)
            group.outputs.append(out)
        yield group
    finally:
        for adapter in adapters:
            await adapter.stop()
        for hearth in group.hearths:
            await hearth.close()


def daily_at_nine(name: str, kind: RitualKind) -> NewRitual:
    """A ritual in the console's #general, due every day at 9:00 in Berlin."""
    return NewRitual(
        name=name,
        kind=kind,
        platform="console",
        space="local",
        channel="general",
        schedule_text="daily at 9:00",
        cron="0 9 * * *",
        timezone="Europe/Berlin",
        window_minutes=60,
    )
