"""Crash safety: a killed Hearth loses nothing it acknowledged, and racing processes
capture each message once.

The console runs as a real child process (`python -m bot run`) and is stopped with
SIGKILL, so no clean-up code runs: what survives is what was committed and flushed.
"""

from __future__ import annotations

import json
import multiprocessing
import random
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from knowledge.db import open_database
from tests.harness.config_builder import write_config
from tests.harness.processes import (
    READ_TIMEOUT,
    HearthProcess,
    Message,
    WorkerResult,
    capture_worker,
)

pytestmark = pytest.mark.slow

BANNER = r"^Hearth console: you are alice"
NOTES = 120


async def rows(database_url: str, sql: str) -> list[tuple[Any, ...]]:
    database = open_database(database_url)
    try:
        async with database.engine.connect() as connection:
            result = await connection.execute(text(sql))
            return [tuple(r) for r in result.all()] if result.returns_rows else []
    finally:
        await database.dispose()


def transcript_messages(path: Path) -> list[dict[str, Any]]:
    """The console's messages as a restarted Hearth will read them (torn lines skipped)."""
    found: list[dict[str, Any]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("kind") == "message":
            found.append(record)
    return found


def start(tmp_path: Path, database_url: str) -> HearthProcess:
    config = write_config(
        tmp_path / "hearth.toml", database_url, transcript=tmp_path / "console.jsonl"
    )
    return HearthProcess(config, tmp_path)


# -- 1. restart after SIGKILL -----------------------------------------------------------


async def test_restart_keeps_insights_and_recognises_captured_messages(
    database_url: str, tmp_path: Path
) -> None:
    with start(tmp_path, database_url) as first:
        first.expect(BANNER)
        first.send("/insight Small PRs get better reviews #review")
        command_id = int(first.expect(r"^#(\d+) alice: /insight Small PRs")[1])
        reply = first.expect(r"^#(\d+) hearth → #(\d+): 💡 Captured insight #(\d+) from alice")
        assert (int(reply[2]), int(reply[3])) == (command_id, 1)
        first.send("Ship small, ship often")
        plain_id = int(first.expect(r"^#(\d+) alice: Ship small, ship often$")[1])
        first.kill()
    used_ids = {command_id, int(reply[1]), plain_id}

    with start(tmp_path, database_url) as second:
        second.expect(BANNER)
        second.send(f":react {command_id} 💡")
        answer = second.expect(rf"^#\d+ hearth → #{command_id}: (.*)$")[1]
        assert answer.startswith("Already captured as insight #1 “Small PRs get better reviews”")

        second.send("A new message")
        new_id = int(second.expect(r"^#(\d+) alice: A new message$")[1])
        assert new_id > max(used_ids)  # ids continue after the crash, never reused

        second.send(f":react {plain_id} 💡")
        captured = second.expect(rf"^#(\d+) hearth → #{plain_id}: (.*)$")
        assert captured[2].startswith("💡 Captured insight #2 from alice: “Ship small, ship often”")
        assert int(captured[1]) > new_id

        second.send("/search reviews")
        second.expect(r"🔎 1 insight\(s\) match “reviews”")
        second.expect(r"^\s+1\. #1 .*PRs")
        assert second.quit() == 0, second.describe("unclean exit")

    insights = await rows(database_url, "SELECT id, body FROM insights ORDER BY id")
    assert insights == [(1, "Small PRs get better reviews"), (2, "Ship small, ship often")]


# -- 2. SIGKILL in the middle of a stream of commands -----------------------------------


ECHO = re.compile(r"^#(\d+) alice: /insight note (\d+) #bulk$")
ACK = re.compile(r"^#\d+ hearth → #(\d+): 💡 Captured insight #(\d+) from alice: “note (\d+)”")
ANSWER = re.compile(
    r"^#\d+ hearth → #(\d+): (💡 Captured insight|Already captured as insight) #(\d+)"
)
COMMAND = re.compile(r"^/insight note (\d+) #bulk$")
NOTE_BODY = re.compile(r"^(?:/insight )?note (\d+)(?: #bulk)?$")


async def test_killed_mid_stream_loses_nothing_acknowledged_and_duplicates_nothing(
    database_url: str, tmp_path: Path
) -> None:
    transcript = tmp_path / "console.jsonl"
    with start(tmp_path, database_url) as first:
        first.expect(BANNER)
        first.send(*(f"/insight note {n} #bulk" for n in range(1, NOTES + 1)))
        for _ in range(NOTES // 2):
            first.expect(ACK.pattern)
        # The next command is in the transcript and being handled: kill it there. The jitter
        # only spreads the kill over the handling (before, inside or after its transaction);
        # nothing waits on it.
        first.expect(ECHO.pattern)
        first.kill(after=random.uniform(0, 0.03))
        output = list(first.lines)

    # Acknowledged = the user saw "Captured insight", including lines printed just before
    # the kill that we had not read yet: message id -> (insight id, note number).
    acknowledged = {int(m[1]): (int(m[2]), int(m[3])) for line in output if (m := ACK.match(line))}
    assert NOTES // 2 <= len(acknowledged) < NOTES, "the kill should land mid-stream"
    echoed = {int(m[1]): int(m[2]) for line in output if (m := ECHO.match(line))}
    assert all(echoed[message] == note for message, (_, note) in acknowledged.items())

    commands = {  # message id -> note number, for the commands the transcript kept
        r["id"]: int(m[1])
        for r in transcript_messages(transcript)
        if r["user"] == "alice" and (m := COMMAND.match(r["text"]))
    }
    assert set(echoed) <= set(commands), "every echoed message is in the transcript"
    assert sorted(commands.values()) == list(range(1, len(commands) + 1)), "in order, no gaps"

    with start(tmp_path, database_url) as second:
        second.expect(BANNER)
        # 💡 every command message that reached the transcript: each is captured exactly once.
        second.send(*(f":react {message} 💡" for message in sorted(commands)))
        answers: dict[int, tuple[str, int]] = {}
        while len(answers) < len(commands):
            found = second.expect(ANSWER.pattern)
            answers[int(found[1])] = (found[2], int(found[3]))
        for message, (insight_id, _) in acknowledged.items():
            assert answers[message] == ("Already captured as insight", insight_id)
        newly = [m for m, (kind, _) in answers.items() if kind.startswith("💡")]
        assert len(newly) <= 1, f"only the command in flight at the kill may be uncaptured: {newly}"

        # The notes the killed process never read are simply sent again.
        missing = sorted(set(range(1, NOTES + 1)) - set(commands.values()))
        second.send(*(f"/insight note {n} #bulk" for n in missing))
        for _ in missing:
            second.expect(ACK.pattern)

        second.send("/search note")
        second.expect(rf"🔎 {NOTES} insight\(s\) match “note”")
        second.send("/search #bulk")
        tagged = int(second.expect(r"🔎 (\d+) insight\(s\) match #bulk")[1])
        assert tagged == NOTES - len(newly)
        assert second.quit() == 0, second.describe("unclean exit")

    insights = await rows(
        database_url,
        """SELECT i.id, i.body, s.message_id,
                  (SELECT count(*) FROM insight_tags it WHERE it.insight_id = i.id),
                  (SELECT count(*) FROM insight_tags it JOIN tags t ON t.id = it.tag_id
                    WHERE it.insight_id = i.id AND t.name = 'bulk')
           FROM insights i JOIN sources s ON s.id = i.source_id ORDER BY i.id""",
    )
    assert len(insights) == NOTES
    by_id = {row[0]: row for row in insights}
    for message, (insight_id, note) in acknowledged.items():
        assert by_id[insight_id][1:] == (f"note {note}", str(message), 1, 1)

    per_source = Counter(row[2] for row in insights)
    assert max(per_source.values()) == 1, "a message has two insights"
    notes = Counter(int(m[1]) for row in insights if (m := NOTE_BODY.match(row[1])))
    assert sorted(notes) == list(range(1, NOTES + 1)) and set(notes.values()) == {1}
    for insight_id, body, _, tags, bulk in insights:
        if body.startswith("note "):  # captured by /insight: never without its tag
            assert (tags, bulk) == (1, 1), f"insight #{insight_id} lost its tags"
        else:  # captured by 💡 on the raw command message: the whole text, no tags
            assert body.startswith("/insight note ") and tags == 0

    if database_url.startswith("sqlite"):
        await rows(database_url, "INSERT INTO insights_fts(insights_fts) VALUES('integrity-check')")
        matched = await rows(
            database_url, "SELECT count(*) FROM insights_fts WHERE insights_fts MATCH 'note'"
        )
        assert matched == [(NOTES,)]


# -- 3. processes racing on one store ---------------------------------------------------


PROCESSES = 3
SOURCES = 50


def shared_messages() -> list[Message]:
    return [
        Message(
            message_id=str(1000 + i),
            text=f"Race note {i}: small steps beat big plans",
            author=f"author{i % 5}",
            tags=(f"topic-{i % 7}", "race"),  # same order everywhere (see the report)
        )
        for i in range(SOURCES)
    ]


async def test_concurrent_processes_capture_each_source_once(database_url: str) -> None:
    messages = shared_messages()
    context = multiprocessing.get_context("spawn")
    start_together = context.Barrier(PROCESSES)
    results: Any = context.Queue()
    forward = list(range(SOURCES))
    orders = [forward, forward[::-1], forward]  # head-on collisions and crossing streams
    workers = [
        context.Process(
            target=capture_worker,
            args=(n, database_url, messages, orders[n], start_together, results),
            daemon=True,
        )
        for n in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    try:
        reports: list[WorkerResult] = [
            results.get(timeout=3 * READ_TIMEOUT) for _ in range(PROCESSES)
        ]
    finally:
        for worker in workers:
            worker.join(timeout=READ_TIMEOUT)
            if worker.is_alive():
                worker.kill()
    errors = [r.error for r in reports if r.error]
    assert not errors, "\n".join(e for e in errors if e)
    assert all(worker.exitcode == 0 for worker in workers)

    assert sum(r.created for r in reports) == SOURCES
    assert len({r.community_id for r in reports}) == 1
    assert len({r.curator_id for r in reports}) == 1
    assert len({tuple(sorted(r.author_ids.items())) for r in reports}) == 1

    assert await rows(database_url, "SELECT count(*) FROM communities") == [(1,)]
    members = await rows(database_url, "SELECT count(*) FROM members")
    identities = await rows(database_url, "SELECT count(*) FROM identities")
    assert members == identities == [(6,)]  # 5 authors and the curator, no orphans
    assert await rows(database_url, "SELECT count(*) FROM sources") == [(SOURCES,)]

    insights = await rows(
        database_url,
        """SELECT s.message_id, i.author_member_id, t.name
           FROM insights i JOIN sources s ON s.id = i.source_id
           LEFT JOIN insight_tags it ON it.insight_id = i.id
           LEFT JOIN tags t ON t.id = it.tag_id""",
    )
    tags: dict[str, list[str]] = {}
    for message_id, _, tag in insights:
        tags.setdefault(message_id, []).append(tag)
    assert len(tags) == SOURCES
    for message in messages:
        assert sorted(tags[message.message_id]) == sorted(message.tags)
    author_ids = reports[0].author_ids
    expected_author = {m.message_id: author_ids[m.author] for m in messages}
    assert all(author == expected_author[mid] for mid, author, _ in insights)
    assert await rows(database_url, "SELECT count(*) FROM tags") == [(8,)]
