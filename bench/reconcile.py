"""The cost of one ritual reconcile pass (every instance, every `reconcile_seconds`).

Creates N rituals on an empty database, then times `RitualStore.schedules()` followed by
`RitualTimer.reconcile()` with nothing changed (the steady state), beside the floor: the
same SELECT of four columns on a raw connection.

    .venv/bin/python bench/reconcile.py --count 10000                      # fresh SQLite file
    .venv/bin/python bench/reconcile.py --database-url postgresql://u@host/empty_db
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text

from knowledge.clock import SystemClock
from knowledge.db import open_database
from knowledge.directory import Directory
from knowledge.migrate import upgrade
from knowledge.models import Ritual
from knowledge.rituals import RitualStore
from scheduling.timer import RitualTimer


async def _nothing(*_: Any) -> None:
    return None


async def run(url: str, count: int, repeats: int) -> None:
    database = open_database(url)
    try:
        await upgrade(database)
        community = await Directory(database).ensure_community("bench", "Bench", "UTC")
        now = SystemClock().now()
        rows = [
            {
                "community_id": community.id,
                "name": f"r{i}",
                "kind": "reflection",
                "platform": "console",
                "space": "local",
                "channel": "general",
                "schedule_text": "bench",
                "cron": f"{i % 60} {i % 24} * * *",
                "timezone": "UTC",
                "every_weeks": 1,
                "window_minutes": 60,
                "reminder_percent": 80,
                "anonymous": False,
                "paused": False,
                "skip_next": False,
                "created_at": now,
            }
            for i in range(count)
        ]
        async with database.sessions.begin() as session:
            await session.execute(insert(Ritual), rows)
        store = RitualStore(database)
        timer = RitualTimer(_nothing, _nothing, timedelta(hours=1), SystemClock())
        timer.reconcile(await store.schedules())  # the first pass adds every job
        started = time.perf_counter()
        for _ in range(repeats):
            timer.reconcile(await store.schedules())
        hearth = (time.perf_counter() - started) / repeats
        started = time.perf_counter()
        for _ in range(repeats):
            async with database.engine.connect() as connection:
                sql = text("SELECT id, cron, timezone, paused FROM rituals")
                (await connection.execute(sql)).all()
        floor = (time.perf_counter() - started) / repeats
        print(
            f"{database.dialect}, {count} rituals: reconcile pass {hearth * 1000:.1f} ms, "
            f"raw SELECT {floor * 1000:.1f} ms, ratio {hearth / floor:.2f}"
        )
    finally:
        await database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--database-url", default="", help="an empty database; default SQLite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite:///{Path(folder) / 'reconcile.db'}"
        asyncio.run(run(url, args.count, args.repeats))


if __name__ == "__main__":
    main()
