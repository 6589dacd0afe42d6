"""`hearth reindex` killed with SIGKILL half-way goes on where it stopped when run again,
and shows its progress; what it had stored stays stored."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert

from knowledge.db import open_database
from knowledge.directory import Directory
from knowledge.migrate import upgrade
from knowledge.models import Insight, Source

COUNT = 6000
MOMENT = datetime(2026, 1, 1, tzinfo=UTC)


async def many_insights(path: Path) -> None:
    """COUNT insights in the default community, written in bulk (the FTS triggers run)."""
    database = open_database(f"sqlite:///{path}")
    await upgrade(database)
    directory = Directory(database)
    community = await directory.ensure_community("default", "Default", "UTC")
    cora = await directory.resolve_member(community.id, "console", "cora", "Cora")
    async with database.sessions.begin() as session:
        source_ids = (
            await session.scalars(
                insert(Source).returning(Source.id),
                [
                    {
                        "community_id": community.id,
                        "platform": "console",
                        "space": "local",
                        "channel": "general",
                        "message_id": str(n),
                        "author_member_id": cora.id,
                        "text": f"insight {n} about sanding dust and lungs",
                        "posted_at": MOMENT,
                    }
                    for n in range(COUNT)
                ],
            )
        ).all()
        await session.execute(
            insert(Insight),
            [
                {
                    "community_id": community.id,
                    "source_id": source_id,
                    "body": f"insight {n} about sanding dust and lungs",
                    "author_member_id": cora.id,
                    "curator_member_id": cora.id,
                    "created_at": MOMENT,
                    "updated_at": MOMENT,
                }
                for n, source_id in enumerate(source_ids)
            ],
        )
    await database.dispose()


def stored(path: Path) -> int:
    with sqlite3.connect(path) as connection:
        return int(connection.execute("SELECT count(*) FROM insight_embeddings").fetchone()[0])


def test_reindex_killed_half_way_goes_on_where_it_stopped(tmp_path: Path) -> None:
    database = tmp_path / "hearth.db"
    asyncio.run(many_insights(database))
    (tmp_path / "hearth.toml").write_text("")  # the default: the packaged model
    command = [sys.executable, "-m", "bot", "reindex", "--config", "hearth.toml"]
    env = {**os.environ, "HEARTH_CONFIG": ""}
    # it SIGKILLs itself right after its second batch is committed (bot/faults.py)
    first = subprocess.run(
        command,
        cwd=tmp_path,
        env={**env, "HEARTH_FAULT": "reindex.after_batch:2"},
        capture_output=True,
        timeout=300,
    )
    assert first.returncode == -signal.SIGKILL, first.stderr
    kept = stored(database)
    assert 0 < kept < COUNT  # killed half-way, its committed batches kept
    again = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert again.returncode == 0, again.stderr
    assert f"default: embedded {COUNT - kept} insight(s)" in again.stdout  # only the rest
    rest = f"{COUNT - kept}/{COUNT - kept}"
    assert "Embedding default" in again.stderr and rest in again.stderr  # the progress bar
    assert stored(database) == COUNT
