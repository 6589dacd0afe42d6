"""Run Hearth with the console adapter in scripted mode, in-process, on a given database."""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path

from adapters.console.adapter import ConsoleAdapter
from bot.app import Hearth
from bot.config import Config, parse_config


def make_config(database_url: str, tmp_path: Path, extra: str = "") -> Config:
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


async def run_script(config: Config, lines: Iterable[str]) -> str:
    """Feed the lines as stdin would, until EOF; return everything the console printed."""
    pending = list(lines)

    async def read_line() -> str | None:
        return pending.pop(0) + "\n" if pending else None

    out = io.StringIO()
    hearth = await Hearth.open(config)
    try:
        await hearth.run([ConsoleAdapter(config.adapters.console, read_line, out)])
    finally:
        await hearth.close()
    return out.getvalue()
