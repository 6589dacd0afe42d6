"""Failures from outside the code reach people as one sentence, never a traceback, and
leave nothing half-stored (issue #22): a full disk, a database locked past the busy
timeout, a NUL byte, a read-only export folder."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text

from bot.app import Hearth
from knowledge.db import Database
from knowledge.failures import BUSY, DISK_FULL, NOT_UNICODE, NUL, explain
from tests.harness.console_harness import make_config, run_script
from tests.harness.read_only import read_only

Step = Callable[[Hearth], Awaitable[object]]


def on_every_connection(pragma: str) -> Step:
    """A script step: from now on every pooled connection runs `pragma` when checked out."""

    async def step(hearth: Hearth) -> None:
        engine = hearth.database.engine.sync_engine

        @event.listens_for(engine, "checkout")
        def _limit(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute(pragma)
            cursor.close()

    return step


async def page_count(hearth: Hearth) -> int:
    async with hearth.database.engine.connect() as connection:
        return int((await connection.execute(text("PRAGMA page_count"))).scalar_one())


async def insight_count(hearth: Hearth) -> int:
    async with hearth.database.engine.connect() as connection:
        return int((await connection.execute(text("SELECT count(*) FROM insights"))).scalar_one())


async def test_a_full_disk_is_said_in_one_sentence_and_nothing_is_half_stored(
    tmp_path: Path, sqlite_template: Path
) -> None:
    path = tmp_path / "hearth.db"
    shutil.copy(sqlite_template, path)
    config = make_config(f"sqlite:///{path}", tmp_path)

    async def fill_up(hearth: Hearth) -> None:
        # SQLite's own SQLITE_FULL, as on a full disk: the file may not grow past its size.
        pages = await page_count(hearth)
        await on_every_connection(f"PRAGMA max_page_count = {pages}")(hearth)

    long = "Write it down while it is fresh. " * 110
    output = await run_script(
        config,
        [
            "/insight A first insight that fits #ok",
            fill_up,
            *(f"/insight {n} {long}" for n in range(8)),
            "/search first",
            "/tags",
        ],
    )
    assert DISK_FULL in output
    assert "Something went wrong" not in output and "Traceback" not in output
    captured = output.count("💡 Captured insight")
    check = await run_script(config, [])  # the store as it is now, limit gone
    assert "Hearth console" in check
    hearth = await Hearth.open(config)
    try:
        assert await insight_count(hearth) == captured  # every reply told the truth
    finally:
        await hearth.close()


async def test_a_database_locked_past_the_busy_timeout_says_so_then_recovers(
    tmp_path: Path, sqlite_template: Path
) -> None:
    path = tmp_path / "hearth.db"
    shutil.copy(sqlite_template, path)
    config = make_config(f"sqlite:///{path}", tmp_path)
    locked = threading.Event()
    release = threading.Event()

    def hold_write_lock() -> None:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process writing, and not letting go
        locked.set()
        release.wait(60)
        other.execute("ROLLBACK")
        other.close()

    holder = threading.Thread(target=hold_write_lock)

    async def lock(hearth: Hearth) -> None:
        holder.start()
        assert await asyncio.to_thread(locked.wait, 30)

    async def unlock(hearth: Hearth) -> None:
        release.set()
        await asyncio.to_thread(holder.join, 30)

    try:
        output = await run_script(
            config,
            [
                on_every_connection("PRAGMA busy_timeout = 200"),
                lock,
                "/insight Locked out for now",
                unlock,
                "/insight Locked out for now",
            ],
        )
    finally:
        release.set()
    assert BUSY in output
    assert "Something went wrong" not in output
    assert output.count("💡 Captured insight #1 from alice: “Locked out for now”") == 1


async def test_a_nul_byte_is_refused_in_words_and_ignored_in_searches(
    database_url: str, tmp_path: Path
) -> None:
    output = await run_script(
        make_config(database_url, tmp_path),
        [
            "/insight Keep\x00 it small",
            "/insight Keep it small #ok",
            "/search keep\x00 small",
            "/insight edit 1 Keep\x00 it",
        ],
    )
    assert output.count(NUL) == 2
    assert "1 insight(s) match" in output
    assert "Something went wrong" not in output


async def test_export_to_a_read_only_folder_is_one_sentence_and_leaves_nothing(
    database_url: str, tmp_path: Path
) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    with read_only(exports):
        output = await run_script(
            make_config(database_url, tmp_path),
            [":as cora", "/insight Small steps #ok", "/export"],
        )
    assert "The export could not be written" in output or "could not be written" in output
    assert "read-only" in output or "permission denied" in output
    assert "Something went wrong" not in output
    assert list(exports.iterdir()) == []


async def test_text_the_drivers_cannot_take_is_explained(database: Database) -> None:
    """What each real driver raises for a lone surrogate (and PostgreSQL for a NUL byte)."""
    cases = [("stray \udc80 byte", NOT_UNICODE)]
    if database.dialect == "postgresql":
        cases.append(("nul \x00 byte", NUL))
    for value, sentence in cases:
        with pytest.raises(Exception) as caught:
            async with database.engine.begin() as connection:
                await connection.execute(
                    text("UPDATE communities SET name = :v WHERE id = -1"), {"v": value}
                )
        assert explain(caught.value) == sentence
