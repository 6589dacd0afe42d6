"""Shared knowledge across a constellation, through the console, on SQLite and PostgreSQL.

Three communities: the Guild and the Forge are linked and both share knowledge; the Mill
is linked to the Guild for relays only. Nothing the Guild did not mark shared may reach
another community by any entry point: search, ask, adopt, digest, export.
"""

from __future__ import annotations

import io
import re
from datetime import timedelta
from pathlib import Path

from knowledge.clock import ManualClock
from tests.harness.config_builder import FORGE, MILL
from tests.harness.console_harness import MONDAY_8, Step, at, code, line, make_config, run_script


def linked(out: io.StringIO, knowledge: bool = True) -> list[Step]:
    """Guild ↔ Forge (sharing knowledge when asked) and Guild ↔ Mill (relays only)."""
    steps: list[Step] = [
        ":as steve",
        "/constellation invite for:forge",
        ":as fran",
        ":channel hall",
        line(lambda: f"/constellation accept {code(out)}"),
        ":channel general",
        ":as steve",
        "/constellation invite for:mill",
        ":as milo",
        ":channel yard",
        line(lambda: f"/constellation accept {code(out)}"),
        ":as steve",
        ":channel general",
    ]
    if knowledge:
        steps += [
            "/constellation share forge on",
            "/constellation share mill on",  # the Mill never agrees: nothing flows there
            ":as fran",
            ":channel hall",
            "/constellation share guild on",
        ]
    return steps


def captured(out: io.StringIO, text: str) -> str:
    return re.findall(rf"Captured insight #(\d+) from \w+: “{re.escape(text)}", out.getvalue())[-1]


async def test_only_what_is_shared_reaches_siblings_from_every_entry_point(
    database_url: str, tmp_path: Path
) -> None:
    config = make_config(database_url, tmp_path, others=(FORGE, MILL))
    out = io.StringIO()
    steps: list[Step] = [
        ":as cora",
        "/insight Pair on the hard parts #practice",
        "/insight Retros need a single owner #retro",
        line(lambda: f"/insight share {captured(out, 'Retros need')} constellation"),
        *linked(out),
        "/search retros",  # the Forge's own insights only: nothing
        "/search retros scope:constellation",
        "/search hard parts scope:constellation",  # not shared
        "/search #retro scope:constellation",
        "/ask who owns our retros? scope:constellation",
        line(lambda: f"/insight adopt {captured(out, 'Pair on the hard parts')}"),
        ":as frank",
        line(lambda: f"/insight adopt {captured(out, 'Retros need')}"),  # members may not
        ":as fran",
        line(lambda: f"/insight adopt {captured(out, 'Retros need')} #facilitation"),
        line(lambda: f"/insight adopt {captured(out, 'Retros need')}"),  # once
        "/constellation knowledge",
        ":as milo",
        ":channel yard",
        "/search retros scope:constellation",  # the Mill did not turn sharing on
        line(lambda: f"/insight adopt {captured(out, 'Retros need')}"),
        "/export",
        ":as fran",
        ":channel hall",
        "/ask how do we pair on hard parts? scope:constellation",  # not shared: no answer
        "/constellation leave guild",
        "/search retros scope:constellation",
    ]
    printed = await run_script(config, steps, out=out)

    assert "No insights match “retros”." in printed
    assert re.search(r"🔎 1 insight\(s\) match “retros” across the constellation", printed)
    assert re.search(r"#\d+ \(from The Guild\) Retros need a single owner", printed)  # /search
    assert "No insights match “hard parts” across the constellation." in printed
    assert re.search(r"🔎 1 insight\(s\) match #retro across the constellation", printed)
    assert re.search(r"#\d+ \(from The Guild\) Retros need a single owner", printed)  # /ask
    assert "No linked community shares an insight #" in printed  # the unshared one
    assert "Only curators can use /insight adopt" in printed
    adopted = re.search(r"🌱 Adopted as insight #(\d+), credited to cora \(The Guild\)", printed)
    assert adopted and "#facilitation" in printed
    assert f"Already adopted as insight #{adopted[1]}" in printed
    assert "The Guild: we share 0, they share 1; we adopted 1 of theirs" in printed
    # the Mill never agreed; the Forge after leaving
    assert printed.count("No linked community shares knowledge with this one yet") == 2
    assert "I have no stored insights about that yet" in printed
    assert printed.count("No linked community shares an insight #") == 2
    exported = "\n".join(p.read_text() for p in (tmp_path / "exports").rglob("*.jsonl"))
    assert "Retros need" not in exported and "hard parts" not in exported


async def test_upstream_edits_unsharing_pausing_and_forget_me_reach_siblings(
    database_url: str, tmp_path: Path
) -> None:
    config = make_config(database_url, tmp_path, others=(FORGE, MILL))
    out = io.StringIO()

    def ids() -> tuple[str, str]:
        origin = captured(out, "Timebox every retro")
        copy = re.findall(r"Adopted as insight #(\d+)", out.getvalue())[-1]
        return origin, copy

    steps: list[Step] = [
        ":as cora",
        "/insight Timebox every retro #retro",
        line(lambda: f"/insight share {captured(out, 'Timebox every retro')} constellation"),
        "/insight Keep demos short #demo",
        line(lambda: f"/insight share {captured(out, 'Keep demos short')} public"),
        *linked(out),
        line(lambda: f"/insight adopt {captured(out, 'Timebox every retro')}"),
        ":as cora",
        ":channel general",
        line(lambda: f"/insight edit {ids()[0]} Timebox every retro to 45 minutes"),
        ":as fran",
        ":channel hall",
        line(lambda: f"/insight show {ids()[1]}"),
        ":as cora",
        ":channel general",
        line(lambda: f"/insight share {ids()[0]} community"),
        ":as fran",
        ":channel hall",
        line(lambda: f"/insight show {ids()[1]}"),
        "/search timebox scope:constellation",
        "/search demos scope:constellation",
        "/constellation pause guild",
        "/search demos scope:constellation",
        "/constellation resume guild",
        "/search demos scope:constellation",
        line(lambda: f"/insight adopt {captured(out, 'Keep demos short')}"),
        ":as cora",
        ":channel general",
        "/forget-me",
        "/forget-me confirm",
        ":as fran",
        ":channel hall",
        "/search demos scope:constellation",
        "/search demos",
    ]
    printed = await run_script(config, steps, out=out)

    assert "Timebox every retro to 45 minutes" in printed.split("/insight show")[1]
    withdrawn = printed.split("/insight show")[2]
    assert "no longer shared by The Guild (un-shared)" in withdrawn
    assert "45 minutes" not in withdrawn.split("/search")[0]
    assert "No insights match “timebox” across the constellation." in printed
    demos = printed.split("/search demos scope:constellation")
    assert "Keep demos short" in demos[1].split("/constellation pause")[0]
    assert "No linked community shares knowledge with this one yet" in demos[2]
    assert "Keep demos short" in demos[3]
    # after /forget-me at the origin: gone from the sibling's search and its adopted copy
    assert "No insights match “demos” across the constellation." in demos[4]
    assert printed.rstrip().splitlines()[-2].endswith("No insights match “demos”.")


async def test_digest_lists_what_siblings_shared_and_nothing_else(
    database_url: str, tmp_path: Path
) -> None:
    clock = ManualClock(MONDAY_8)
    config = make_config(database_url, tmp_path, others=(FORGE, MILL))
    out = io.StringIO()
    steps: list[Step] = [
        *linked(out),
        "/ritual add digest here weekly on monday at 9:00",  # fran, in the Forge's #hall
        "/ritual confirm",
        ":as cora",
        ":channel general",
        "/insight Write the decision down #decisions",
        line(lambda: f"/insight share {captured(out, 'Write the decision')} constellation"),
        "/insight Our private incident notes #incidents",
        at(clock, MONDAY_8 + timedelta(hours=2)),  # 9:00 UTC: the Forge's time zone
    ]
    printed = await run_script(config, steps, clock, out=out)
    digest = printed.split("📚 Digest:")[1]
    assert "🔭 New from the constellation (1)" in digest
    assert "“Write the decision down” — cora, The Guild" in digest
    assert "incident" not in digest
