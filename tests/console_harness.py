"""Run Hearth with the console adapter in scripted mode, in-process, on a given database."""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

from adapters.console.adapter import ConsoleAdapter
from bot.app import Hearth
from bot.assist import LanguageModel
from bot.config import Config, parse_config
from scheduling.clock import Clock


def make_config(
    database_url: str, tmp_path: Path, extra: str = "", community_extra: str = ""
) -> Config:
    return parse_config(
        f"""
[hearth]
database_url = "{database_url}"
export_dir = "{tmp_path / "exports"}"

[[communities]]
slug = "guild"
name = "The Guild"
timezone = "Europe/Berlin"
stewards = ["console:steve"]
curators = ["console:cora"]
{community_extra}
[[communities.channels]]
platform = "console"
space = "local"
channel = "general"

[adapters.console]
user = "alice"
transcript = "{tmp_path / "console.jsonl"}"
{extra}
""",
        "test-config",
    )


Step = str | Callable[[Hearth], Awaitable[object]]


async def run_script(
    config: Config,
    lines: Iterable[Step],
    clock: Clock | None = None,
    model: LanguageModel | None = None,
) -> str:
    """Feed the lines as stdin would, until EOF; return everything the console printed.

    A callable among the lines runs at that point (e.g. to move a test clock and tick).
    """
    pending = list(lines)
    hearth = await Hearth.open(config, clock, model=model)

    async def read_line() -> str | None:
        while pending:
            step = pending.pop(0)
            if isinstance(step, str):
                return step + "\n"
            await step(hearth)
        return None

    out = io.StringIO()
    try:
        await hearth.run([ConsoleAdapter(config.adapters.console, read_line, out)])
    finally:
        await hearth.close()
    return out.getvalue()
