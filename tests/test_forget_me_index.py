"""/forget-me really removes the words from SQLite's full-text index data (issue #22):
FTS5 only marks deleted rows, so without a merge the words stay in the index pages."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from bot.app import Hearth
from tests.harness.console_harness import make_config, run_script

SECRET = b"qqxyzzyplugh"  # no other indexed word shares its first letter: stored whole


def fts_bytes(path: Path) -> bytes:
    with sqlite3.connect(path) as connection:
        rows = connection.execute("SELECT block FROM insights_fts_data").fetchall()
        rows += connection.execute("SELECT term FROM insights_fts_idx").fetchall()
    return b"".join(r[0] if isinstance(r[0], bytes) else str(r[0]).encode() for r in rows)


async def test_forget_me_leaves_no_words_in_the_fts_shadow_tables(
    tmp_path: Path, sqlite_template: Path
) -> None:
    path = tmp_path / "hearth.db"
    shutil.copy(sqlite_template, path)
    seen: dict[str, bytes] = {}

    async def snapshot(hearth: Hearth) -> None:
        seen["before"] = fts_bytes(path)

    output = await run_script(
        make_config(f"sqlite:///{path}", tmp_path),
        [
            "/insight Alice keeps her notes",
            ":as bob",
            f"/insight Bob says {SECRET.decode()} loudly",
            snapshot,
            "/forget-me",
            "/forget-me confirm",
            ":as alice",
            f"/search {SECRET.decode()}",
            "/search notes",
        ],
    )
    assert "Deleted 1 insight(s)" in output
    assert SECRET in seen["before"]  # the probe finds the word while it is there
    assert SECRET not in fts_bytes(path)
    assert "1 insight(s) match “notes”" in output  # the rest of the index still works
