"""`hearth import` on SQLite writes a batch's insights in one statement
(knowledge/capture_bulk.py): the rows are those the line-by-line writer makes, a line
repeating an earlier source in the same file adds nothing, a bad line is reported alone,
and importing again adds nothing."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from knowledge.capture_writer import CaptureWriter
from knowledge.clock import ManualClock
from knowledge.db import Database, open_database
from knowledge.directory import Directory
from knowledge.export import FORMAT
from knowledge.importer import ImportSummary, import_jsonl
from knowledge.insights import InsightStore

TABLES = ("members", "identities", "sources", "insights", "tags", "insight_tags")


def line(n: int, **changes: Any) -> str:
    record = {
        "format": FORMAT,
        "title": f"note {n}" if n % 3 else None,
        "body": f"kiln firing number {n} cone {n % 5}",
        "tags": [f"kiln{n % 4}", "glaze"] if n % 2 else [],
        "author_name": f"Potter {n % 3}",
        "curator_name": "Ann" if n % 2 else "Bo",
        "source_platform": "slack",
        "source_space": "T1",
        "source_channel": "C1",
        "source_message_id": f"m{n}",
        "permalink": None,
        "created_at": "2024-03-01T10:00:00+00:00",
    }
    return json.dumps(record | changes)


async def imported(database: Database, path: Path, line_by_line: bool) -> ImportSummary:
    directory = Directory(database)
    community = await directory.ensure_community("guild", "Guild", "UTC")
    store = InsightStore(database)
    if line_by_line:  # the writer every capture uses, without the import batch path
        store._writer = CaptureWriter(database)
    return await import_jsonl(store, directory, community, path)


async def rows(database: Database) -> list[list[tuple[Any, ...]]]:
    async with database.engine.connect() as connection:
        return [
            list((await connection.exec_driver_sql(f"SELECT * FROM {table} ORDER BY 1, 2")).all())
            for table in TABLES
        ]


async def test_an_import_batch_writes_what_line_by_line_writes(
    tmp_path: Path, sqlite_template: Path
) -> None:
    lines = [line(n) for n in range(40)]
    lines[7] = line(3, body="the same message again, edited")  # a source twice in one file
    lines[11] = line(11, body="   ")  # an empty body: refused, alone
    path = tmp_path / "export.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    outcomes = []
    for name, line_by_line in (("batch.db", False), ("lines.db", True)):
        file = shutil.copy(sqlite_template, tmp_path / name)
        clock = ManualClock(datetime(2030, 5, 1, 12, 0, tzinfo=UTC))  # the same stamps
        database = open_database(f"sqlite:///{file}", clock=clock)
        try:
            first = await imported(database, path, line_by_line)
            again = await imported(database, path, line_by_line)
            async with database.engine.connect() as connection:
                indexed = await connection.exec_driver_sql(
                    "SELECT count(*) FROM insights_fts WHERE insights_fts MATCH 'kiln firing'"
                )
                total = indexed.scalar_one()
            outcomes.append((first, again, await rows(database), total))
        finally:
            await database.dispose()
    batch, lines_ = outcomes
    assert batch == lines_
    first, again, _, total = batch
    assert (first.created, first.already_present) == (38, 1)
    assert len(first.errors) == 1 and first.errors[0].startswith("line 12: ")
    assert (again.created, again.already_present) == (0, 39)
    assert total == 38  # every new insight is in the full-text index
