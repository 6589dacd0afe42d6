"""Run Hearth with the console adapter in scripted mode, in-process, on a given database."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from adapters.console.adapter import ConsoleAdapter, database_numbers
from bot.app import Hearth
from bot.assist import LanguageModel
from bot.assist.semantic import Embedder
from bot.config import Config
from knowledge.clock import Clock, ManualClock
from knowledge.sync_tokens import SyncTokens
from tests.harness.config_builder import GUILD, Community, build_config


def make_config(
    database_url: str,
    tmp_path: Path,
    extra: str = "",
    community_extra: str = "",
    others: Sequence[Community] = (),
) -> Config:
    """The guild (and `others`) on the console; `extra` adds tables (or [adapters.console]
    keys), `community_extra` keys of the guild's own table."""
    guild = dataclasses.replace(GUILD, extra=community_extra)
    return build_config(database_url, tmp_path, guild, *others, extra=extra)


class Screen(io.StringIO):
    """A console's output that a test can wait on."""

    def __init__(self) -> None:
        super().__init__()
        self.changed = asyncio.Event()

    def write(self, text: str) -> int:
        self.changed.set()
        return super().write(text)

    async def shows(self, text: str, guard: float = 60.0) -> None:
        """Until `text` is on screen; `guard` only stops a hang."""
        async with asyncio.timeout(guard):
            while text not in self.getvalue():
                self.changed.clear()
                await self.changed.wait()


Step = str | Callable[[Hearth], Awaitable[object]]


async def run_script(
    config: Config,
    lines: Iterable[Step],
    clock: Clock | None = None,
    model: LanguageModel | None = None,
    out: io.StringIO | None = None,
    embedder: Embedder | None = None,
) -> str:
    """Feed the lines as stdin would, until EOF; return everything the console printed.

    A callable among the lines runs at that point (e.g. to move a test clock and tick);
    if it returns a string, that is the next line (built from what was printed so far).
    Relays are delivered only when a step drains them (`drain`), never in the background.
    Semantic search is on only with an `embedder` (e.g. the packaged local model).
    """
    pending = list(lines)
    failures: list[BaseException] = []
    hearth = await Hearth.open(
        config, clock, model=model, relay_in_background=False, embedder=embedder
    )

    async def read_line() -> str | None:
        while pending:
            step = pending.pop(0)
            if isinstance(step, str):
                return step + "\n"
            try:
                result = await step(hearth)
            except BaseException as exc:
                failures.append(exc)
                return None  # end the session; the failure is raised below
            if isinstance(result, str):
                return result + "\n"
        return None

    out = out if out is not None else io.StringIO()
    try:
        console = ConsoleAdapter(
            config.adapters.console,
            read_line,
            out,
            clock=clock,
            numbers=database_numbers(SyncTokens(hearth.database), config.adapters.console.space),
        )
        await hearth.run([console])
    finally:
        await hearth.close()
    if failures:
        raise failures[0]
    return out.getvalue()


async def drain(hearth: Hearth) -> int:
    """A script step: deliver every relay that is due now."""
    return await hearth.relay_worker.drain()


# A Monday morning in the guild's zone: where ritual scripts start their test clock.
MONDAY_8 = datetime(2026, 11, 30, 8, 0, tzinfo=ZoneInfo("Europe/Berlin"))


def at(clock: ManualClock, moment: datetime) -> Callable[[Hearth], Awaitable[None]]:
    """A script step: move the test clock to `moment` and let rituals act on it."""

    async def step(hearth: Hearth) -> None:
        clock.set(moment)
        await hearth.services.rituals.tick()

    return step


def line(build: Callable[[], str]) -> Step:
    """A script step whose line is built when it is typed (from what was printed)."""

    async def step(_: Hearth) -> str:
        return build()

    return step


def code(out: io.StringIO) -> str:
    """The last invitation code the console printed."""
    return re.findall(r"HL-[A-Z0-9-]+", out.getvalue())[-1]
