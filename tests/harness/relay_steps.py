"""Console scripts across a constellation: the guild and the forge, linked by their
stewards, and what the console's transcript shows in each channel."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

from tests.harness.config_builder import FORGE
from tests.harness.console_harness import Step, code, line, make_config


def config_for(database_url: str, tmp_path: Path, extra: str = "") -> Any:
    return make_config(database_url, tmp_path, extra=extra, others=(FORGE,))


def transcript(tmp_path: Path) -> list[dict[str, Any]]:
    """The console's messages as they stand now (later records replace earlier ones)."""
    latest: dict[int, dict[str, Any]] = {}
    for row in (tmp_path / "console.jsonl").read_text().splitlines():
        record = json.loads(row)
        latest[record["id"]] = record
    return [m for m in latest.values() if m["kind"] == "message"]


def in_channel(tmp_path: Path, channel: str) -> list[dict[str, Any]]:
    return [m for m in transcript(tmp_path) if m["channel"] == channel and not m["deleted"]]


def id_of(out: io.StringIO, who: str, text: str) -> str:
    """The id the console printed for a message (the last one matching)."""
    found = re.findall(rf"#(\d+) {re.escape(who)}(?: → #\d+)?: {re.escape(text)}", out.getvalue())
    assert found, f"no message {who}: {text!r} in output"
    return found[-1]


def link_steps(out: io.StringIO) -> list[Step]:
    """Steve (guild steward) invites from #general; Fran (forge steward) accepts in #hall."""
    return [
        ":as steve",
        "/constellation invite",
        ":as fran",
        ":channel hall",
        line(lambda: f"/constellation accept {code(out)}"),
        ":channel general",
        ":as alice",
    ]
