"""Statements on SQLite go to the database thread once each (knowledge/sqlite_cursor.py),
and everything SQLAlchemy reads from a cursor still arrives: rows, counts, new ids,
RETURNING, constraint errors, many-row inserts."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import insert, select, text, update
from sqlalchemy.exc import IntegrityError

from knowledge.clock import ManualClock
from knowledge.db import Database, open_database
from knowledge.directory import Directory
from knowledge.inbound import InboundLog, Taken
from knowledge.links import LinkStore
from knowledge.models import InboundEvent, SyncCursor
from knowledge.relay_record import ToRecord
from knowledge.relay_rows import Participant
from knowledge.relays import Claim, NewTarget, Recorded, RelayStore, Route
from knowledge.sqlite_thread import time_binder
from knowledge.sync_tokens import SyncTokens


@pytest.fixture
def sqlite_file(tmp_path: Path, sqlite_template: Path) -> Path:
    return Path(shutil.copy(sqlite_template, tmp_path / "hearth.db"))


@pytest.fixture
async def sqlite(sqlite_file: Path) -> AsyncIterator[Database]:
    database = open_database(f"sqlite:///{sqlite_file}")
    yield database
    await database.dispose()


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every call queued to an aiosqlite connection's thread."""
    queued: list[Any] = []
    real = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        queued.append(fn)
        return await real(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return queued


async def test_the_sync_loop_writes_cost_one_trip_per_transaction(
    sqlite: Database, trips: list[Any]
) -> None:
    """What the Matrix sync loop writes per event and per batch: taking a new event, then
    saving the batch's token with its events marked done, each one hop to the thread
    (through the ORM: 2 and 3 hops, before knowledge/sqlite_cursor.py 9 and 17)."""
    log, tokens = InboundLog(sqlite), SyncTokens(sqlite)
    await tokens.put("matrix", "@hearth:local", "s1")  # the pool's connection is opened
    trips.clear()
    assert await log.take("matrix", "sync:$a") == Taken()
    assert len(trips) == 1
    trips.clear()
    await tokens.put("matrix", "@hearth:local", "s2", done=["sync:$a"])
    assert len(trips) == 1
    assert await tokens.get("matrix", "@hearth:local") == "s2"
    assert await log.take("matrix", "sync:$a") is None  # done: a redelivery is skipped
    async with sqlite.sessions() as session:  # stamped as the ORM stamps, by the clock
        row = (
            await session.execute(
                select(InboundEvent.received_at, InboundEvent.done_at).where(
                    InboundEvent.event_id == "sync:$a"
                )
            )
        ).one()
    assert row.received_at <= row.done_at <= sqlite.clock.now()


async def test_begin_travels_with_the_first_statement(sqlite: Database, trips: list[Any]) -> None:
    """A transaction's BEGIN IMMEDIATE goes in its first statement's hop: one write is
    two trips (the statement, COMMIT); an empty transaction none; a failed one leaves
    nothing behind and the connection usable."""
    row = {"platform": "slack", "key": "T1", "token": "a", "updated_at": sqlite.clock.now()}
    async with sqlite.sessions.begin() as session:  # the pool's connection is opened
        await session.execute(insert(SyncCursor).values(row))
    trips.clear()
    async with sqlite.sessions.begin() as session:
        await session.execute(update(SyncCursor).values(token="b"))
    assert len(trips) == 2
    trips.clear()
    async with sqlite.sessions.begin():
        pass
    assert trips == []
    with pytest.raises(IntegrityError):
        async with sqlite.sessions.begin() as session:
            await session.execute(update(SyncCursor).values(token="c"))
            await session.execute(insert(SyncCursor).values(row))  # the key exists
    async with sqlite.sessions() as session:
        assert await session.scalar(select(SyncCursor.token)) == "b"  # "c" rolled back


async def test_rows_counts_and_new_ids_arrive_as_before(sqlite: Database) -> None:
    async with sqlite.sessions.begin() as session:
        inserted = await session.execute(
            insert(SyncCursor)
            .values(platform="slack", key="T1", token="a", updated_at=sqlite.clock.now())
            .returning(SyncCursor.token)
        )
        assert inserted.scalar_one() == "a"
        await session.execute(
            insert(SyncCursor),
            [
                {
                    "platform": "slack",
                    "key": f"T{n}",
                    "token": "b",
                    "updated_at": sqlite.clock.now(),
                }
                for n in range(2, 6)
            ],
        )
        changed = await session.execute(
            update(SyncCursor).where(SyncCursor.token == "b").values(token="c")
        )
        assert changed.rowcount == 4  # type: ignore[attr-defined]
        raw = await session.execute(text("INSERT INTO sync_cursors VALUES ('x', 'y', 'z', 0)"))
        assert raw.lastrowid is not None  # type: ignore[attr-defined]
    async with sqlite.sessions() as session:
        keys = (await session.scalars(select(SyncCursor.key).order_by(SyncCursor.key))).all()
    assert keys == ["T1", "T2", "T3", "T4", "T5", "y"]


async def test_a_broken_constraint_is_sqlalchemys_integrity_error(sqlite: Database) -> None:
    row = {"platform": "slack", "key": "T1", "token": "a", "updated_at": sqlite.clock.now()}
    async with sqlite.sessions.begin() as session:
        await session.execute(insert(SyncCursor).values(row))
    with pytest.raises(IntegrityError):
        async with sqlite.sessions.begin() as session:
            await session.execute(insert(SyncCursor).values(row))
    async with sqlite.sessions() as session:  # the connection is usable after the error
        assert await session.scalar(select(SyncCursor.token)) == "a"


async def test_the_live_path_sees_the_links_the_commands_see(sqlite: Database) -> None:
    """The relay's one-hop link reads (inside its recording transaction) find the same
    links, sides, flags and code expiry as the ORM reads `/constellation` uses."""
    directory, links = Directory(sqlite), LinkStore(sqlite)
    now = sqlite.clock.now()
    ids = []
    for slug, channel in (("guild", "general"), ("forge", "hall"), ("mill", "yard")):
        community = await directory.ensure_community(slug, slug.title(), "UTC")
        member = await directory.resolve_member(community.id, "console", "ann", "Ann")
        ids.append((community.id, member.id, ("console", "local", channel)))
    guild, forge, mill = ids
    _, code = await links.invite(*guild, now=now, whole_channel=True, receives=False)
    await links.accept(code, *forge, now=now)
    _, code = await links.invite(*guild, now=now)
    await links.accept(code, *mill, now=now)
    await links.invite(*forge, now=now)  # only invited: carries nothing yet
    await links.set_paused(1, forge[0], True, now)
    for communities in ({guild[0], forge[0]}, {guild[0], forge[0], mill[0]}, {mill[0]}):
        async with sqlite.sessions.begin() as session:
            live = await links.links_between(communities, session=session)
        assert live == await links.links_between(communities)
    async with sqlite.sessions.begin() as session:
        live = await links.whole_channel_links(guild[2], session=session)
    assert live == await links.whole_channel_links(guild[2])
    assert [(link.whole_channel, link.paused) for link in live] == [(True, True)]


async def _a_relayed_thread(
    database: Database, orm: bool
) -> tuple[RelayStore, Participant, list[Route]]:
    """Guild's thread relayed to Forge and Mill over two links (opened through the ORM's
    statements or their plain-SQL copy), then opened again (nothing changes)."""
    directory, links = Directory(database), LinkStore(database)
    now = database.clock.now()
    ids = []
    for slug, channel in (("guild", "general"), ("forge", "hall"), ("mill", "yard")):
        community = await directory.ensure_community(slug, slug.title(), "UTC")
        member = await directory.resolve_member(community.id, "console", "ann", "Ann")
        ids.append((community.id, member.id, ("console", "local", channel)))
    targets = []
    for other in ids[1:]:
        link, code = await links.invite(*ids[0], now=now)
        await links.accept(code, *other, now=now)
        targets.append(NewTarget(other[0], link.id, other[2]))
    store = RelayStore(database)
    for _ in range(2):
        async with database.sessions.begin() as session:
            if orm:
                await session.connection()
                opened = await store._open_thread(
                    session, ids[0][0], ids[0][2], "$root", targets, now
                )
            else:
                opened = await store.open_thread(
                    ids[0][0], ids[0][2], "$root", targets, now, session=session
                )
    origin, everyone = opened
    assert len(everyone) == 3 and origin == everyone[0]
    routes = [Route(p.id, p.link_id) for p in everyone if p.link_id is not None]
    return store, origin, routes


async def test_recording_writes_what_the_orm_writes_in_one_trip(
    sqlite_file: Path, tmp_path: Path, trips: list[Any]
) -> None:
    """A relayed thread opened and a message recorded in plain SQL (knowledge/relay_record.py) leaves the same
    rows, keys, claims and timestamps as the ORM's statements, and returns the same
    copies to hand over; a redelivery adds nothing, and the recording is one trip."""
    other = Path(shutil.copy(sqlite_file, tmp_path / "orm.db"))
    clock = ManualClock(datetime(2030, 5, 1, 12, 0, tzinfo=UTC))
    lean, orm = (open_database(f"sqlite:///{f}", clock=clock) for f in (sqlite_file, other))
    try:
        rows: list[Any] = []
        returned: list[list[Recorded]] = []
        for database in (lean, orm):
            store, origin, routes = await _a_relayed_thread(database, orm=database is orm)
            claim = Claim("worker-1", clock.now() + timedelta(minutes=5))
            got: list[Recorded] = []
            for message_id, is_root in (("$root", True), ("$reply", False), ("$root", True)):
                what: dict[str, Any] = {
                    "is_root": is_root,
                    "author_name": "Ann " * 60,
                    "digest": f"d{message_id}",
                    "routes": routes,
                    "payload": {"text": f"hi {message_id}", "n": [1, None]},
                    "now": clock.now(),
                    "claim": claim,
                }
                async with database.sessions.begin() as session:
                    trips.clear()
                    if database is lean:
                        recorded = await store.record(origin, message_id, session=session, **what)
                        assert len(trips) == 1
                    else:  # the ORM's path, as PostgreSQL runs it
                        await session.connection()
                        recorded = await store._record(
                            session,
                            ToRecord(origin, message_id, **what, stamp=time_binder(database)),
                        )
                got.append(recorded)
            async with database.engine.connect() as connection:
                rows.append(
                    [
                        (await connection.exec_driver_sql(f"SELECT * FROM {table}")).all()
                        for table in (
                            "relay_threads",
                            "relay_participants",
                            "relay_messages",
                            "relay_outbox",
                        )
                    ]
                )
            returned.append(got)
        assert rows[0] == rows[1]  # the rows
        assert returned[0] == returned[1]  # what was returned, handed copies included
        _, _, messages, outbox = rows[0]
        assert len(messages) == 2 and len(outbox) == 4
        root, reply, again = returned[0]
        assert again.message == root.message and again.handed == ()
        assert len(root.handed) == 2 and reply.handed == ()  # the root's copies hold the lanes
    finally:
        await lean.dispose()
        await orm.dispose()
