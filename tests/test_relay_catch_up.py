"""Catch-up after a restart runs beside live traffic, on SQLite and PostgreSQL.

The console is the platform here: its transcript file is its history, so "while Hearth
was down" is records another console appended to it. A long history (1,000 relayed
threads, seeded through the store) must not hold back the first live relay; what was
posted, edited or deleted while down is still relayed once, in thread order; a deleted
root is a normal outcome, not an error.
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from structlog.testing import capture_logs

from adapters.console.transcript import ConsoleMessage
from bot.app import Hearth
from bot.relay.payload import digest
from knowledge.clock import ManualClock
from knowledge.db import open_database
from knowledge.models import (
    Community,
    Link,
    RelayMessage,
    RelayParticipant,
    RelayThread,
    SyncCursor,
)
from knowledge.relays import CATCH_UP_KEY
from tests.harness.console_harness import Step, drain, line, run_script
from tests.harness.relay_steps import config_for, id_of, in_channel, link_steps, transcript

HISTORY = 1000
AT = "2026-01-05T09:00:00+00:00"  # when the seeded history was written (any fixed time)
NOW = datetime(2026, 1, 6, 9, 0, tzinfo=UTC)  # Hearth's clock: the history is a day old
PACED = """
[relay.catch_up_requests_per_second]
console = 20.0
"""


def append(tmp_path: Path, *messages: ConsoleMessage) -> None:
    """Write to the console's history as another console would while Hearth is down."""
    with (tmp_path / "console.jsonl").open("a", encoding="utf-8") as f:
        for message in messages:
            f.write(json.dumps(asdict(message), ensure_ascii=False) + "\n")


def latest(tmp_path: Path, message_id: int) -> ConsoleMessage:
    (found,) = [m for m in transcript(tmp_path) if m["id"] == message_id]
    return ConsoleMessage(**found)


def next_id(tmp_path: Path) -> int:
    return max(m["id"] for m in transcript(tmp_path)) + 1


async def seed_history(database_url: str, tmp_path: Path, count: int) -> None:
    """`count` relayed threads from #general to #hall, as a busy whole-channel link leaves
    them: each root in the transcript and recorded as relayed (rows written in bulk)."""
    first = next_id(tmp_path)
    roots = [
        ConsoleMessage(first + n, "local", "general", "alice", f"Old thread {n}", AT)
        for n in range(count)
    ]
    append(tmp_path, *roots)
    database = open_database(database_url)
    try:
        async with database.sessions.begin() as session:
            guild = await session.scalar(select(Community.id).where(Community.slug == "guild"))
            forge = await session.scalar(select(Community.id).where(Community.slug == "forge"))
            link = await session.scalar(select(Link.id))
            assert guild is not None and forge is not None and link is not None
            at = datetime.fromisoformat(AT)
            threads = [
                RelayThread(origin_community_id=guild, created_at=at, last_activity_at=at)
                for _ in roots
            ]
            session.add_all(threads)
            await session.flush()
            origins = []
            for thread, root in zip(threads, roots, strict=True):
                origins.append(
                    RelayParticipant(
                        relay_thread_id=thread.id,
                        community_id=guild,
                        platform="console",
                        space="local",
                        channel="general",
                        anchor_id=str(root.id),
                    )
                )
                session.add(
                    RelayParticipant(
                        relay_thread_id=thread.id,
                        community_id=forge,
                        link_id=link,
                        platform="console",
                        space="local",
                        channel="hall",
                    )
                )
            session.add_all(origins)
            await session.flush()
            session.add_all(
                RelayMessage(
                    relay_thread_id=origin.relay_thread_id,
                    participant_id=origin.id,
                    message_id=str(root.id),
                    is_root=True,
                    author_name="alice",
                    digest=digest(root.text, None),
                    payload={"author": "alice", "text": root.text},
                    created_at=at,
                )
                for origin, root in zip(origins, roots, strict=True)
            )
    finally:
        await database.dispose()


async def saved_position(database_url: str) -> str | None:
    database = open_database(database_url)
    try:
        async with database.sessions() as session:
            return await session.scalar(
                select(SyncCursor.token).where(
                    SyncCursor.platform == "console", SyncCursor.key == CATCH_UP_KEY
                )
            )
    finally:
        await database.dispose()


def events(logs: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [entry for entry in logs if entry["event"] == name]


def copies_in_hall(tmp_path: Path) -> list[dict[str, Any]]:
    return [m for m in in_channel(tmp_path, "hall") if m["shown_as"]]


async def test_a_restart_relays_live_at_once_beside_a_long_catch_up(
    database_url: str, tmp_path: Path
) -> None:
    """Whole-channel mode, 1,000 relayed threads in history: after a restart the first
    live message is relayed while catch-up is still reading them, and stopping Hearth
    stops the catch-up in between reads (its position is not saved, so nothing is lost)."""
    config = config_for(database_url, tmp_path, PACED)
    out = io.StringIO()
    await run_script(
        config,
        [
            *link_steps(out),
            ":as steve",
            "/constellation scope forge mode:channel",
            ":as alice",
            "Before the restart",
            drain,
        ],
        ManualClock(NOW),
        out=out,
    )
    assert [m["text"].split("\n")[0] for m in copies_in_hall(tmp_path)] == ["Before the restart"]
    position = await saved_position(database_url)
    assert position is not None  # the first start caught up completely
    await seed_history(database_url, tmp_path, HISTORY)

    seen: dict[str, Any] = {}

    async def relayed(hearth: Hearth) -> None:
        seen["delivered"] = await drain(hearth)
        seen["still_to_read"] = hearth.services.relays.catch_up_waiting("console")

    with capture_logs() as logs:
        await run_script(
            config, [":as alice", "First after the restart", relayed], ManualClock(NOW), out=out
        )

    assert seen["delivered"] == 1
    (reading,) = events(logs, "relay.catching_up")
    assert reading["threads"] == HISTORY + 2  # every seeded thread, both sides of the first
    assert seen["still_to_read"] > HISTORY / 2  # relayed live long before catch-up ended
    hall = copies_in_hall(tmp_path)
    assert [m["text"].split("\n")[0] for m in hall] == [
        "Before the restart",
        "First after the restart",
    ]
    # stopping Hearth stopped the catch-up between reads; its position stays where it was
    (interrupted,) = events(logs, "relay.catch_up_interrupted")
    assert interrupted["left"] > 0
    assert not events(logs, "relay.caught_up")
    assert await saved_position(database_url) == position

    # the next start (unpaced) reads them all, finds nothing to relay, saves its position
    unpaced = config_for(database_url, tmp_path)

    async def caught_up(hearth: Hearth) -> None:
        await hearth.services.relays.caught_up("console")
        seen["after"] = await drain(hearth)

    with capture_logs() as logs:
        await run_script(unpaced, [caught_up], ManualClock(NOW), out=out)
    assert seen["after"] == 0
    (done,) = events(logs, "relay.caught_up")
    assert done["changes"] == 0
    assert await saved_position(database_url) != position

    # and a start after that reads only what was written since: nothing
    with capture_logs() as logs:
        await run_script(unpaced, [caught_up], ManualClock(NOW), out=out)
    (reading,) = events(logs, "relay.catching_up")
    assert reading["threads"] == 0
    assert len(copies_in_hall(tmp_path)) == 2


async def test_what_changed_while_down_is_relayed_once_and_a_deleted_root_is_no_error(
    database_url: str, tmp_path: Path
) -> None:
    """A reply, an edit and a deletion made while Hearth was down are relayed once; a
    live reply in that thread, arriving before the pass reached it, has the thread read
    first so the missed reply keeps its place; a relayed root deleted meanwhile has its
    copy deleted, logged as the normal outcome it is."""
    # one request a second: the pass reads a thread every two seconds, most recently
    # active first (the Old news thread's two sides), so the live reply comes well first
    config = config_for(database_url, tmp_path, PACED.replace("20.0", "1.0"))
    out = io.StringIO()

    def root() -> str:
        return id_of(out, "alice", "Release checklist?")

    steps: list[Step] = [
        *link_steps(out),
        "Release checklist?",
        ":as bob",
        line(lambda: f":reply {root()} Tag first"),
        line(lambda: f":reply {root()} Then announce"),
        ":as alice",
        line(lambda: f":reply {root()} /relay"),
        "Old news",
        line(lambda: f":reply {id_of(out, 'alice', 'Old news')} /relay"),
        drain,
    ]
    await run_script(config, steps, ManualClock(NOW), out=out)
    hall = {m["text"].split("\n")[0]: m for m in copies_in_hall(tmp_path)}
    assert sorted(hall) == ["Old news", "Release checklist?", "Tag first", "Then announce"]
    root_copy = hall["Release checklist?"]["id"]

    # while Hearth is down: a reply, an edit, a deletion, and a relayed root deleted
    thread = int(root())
    tag, announce = int(id_of(out, "bob", "Tag first")), int(id_of(out, "bob", "Then announce"))
    old_news = int(id_of(out, "alice", "Old news"))
    append(
        tmp_path,
        ConsoleMessage(
            next_id(tmp_path), "local", "general", "carl", "Written while down", AT, thread
        ),
        ConsoleMessage(**{**asdict(latest(tmp_path, tag)), "text": "Tag first, then build"}),
        ConsoleMessage(**{**asdict(latest(tmp_path, announce)), "deleted": True}),
        ConsoleMessage(**{**asdict(latest(tmp_path, old_news)), "deleted": True}),
    )

    seen: dict[str, Any] = {}

    async def caught_up(hearth: Hearth) -> None:
        await hearth.services.relays.caught_up("console")
        await drain(hearth)

    with capture_logs() as logs:
        await run_script(
            config,
            clock=ManualClock(NOW),
            lines=[":as carl", f":reply {thread} Back online", drain, caught_up],
            out=out,
        )

    # the live reply came after what was missed in its thread: one lane, in order
    in_thread = [m for m in copies_in_hall(tmp_path) if m["reply_to"] == root_copy]
    assert [m["text"].split("\n")[0] for m in in_thread] == [
        "Tag first, then build",
        "Written while down",
        "Back online",
    ]
    everything = {m["id"]: m for m in transcript(tmp_path)}
    assert everything[hall["Then announce"]["id"]]["deleted"]  # gone there too
    assert everything[hall["Old news"]["id"]]["deleted"]  # so is the copy of the deleted root
    assert len(events(logs, "relay.catch_up_first")) == 1  # the live reply's thread, read first
    assert not [e for e in logs if e["log_level"] in ("error", "critical")], logs
    assert not events(logs, "relay.catch_up_failed")
    (gone,) = events(logs, "relay.catch_up_gone")
    assert gone["log_level"] == "info"

    # a restart after that queues nothing twice
    async def again(hearth: Hearth) -> None:
        await hearth.services.relays.caught_up("console")
        seen["again"] = await drain(hearth)

    before = len(transcript(tmp_path))
    with capture_logs() as logs:
        await run_script(config, [again], ManualClock(NOW), out=out)
    assert seen["again"] == 0
    assert len(transcript(tmp_path)) == before
    assert not events(logs, "relay.catch_up_failed")
