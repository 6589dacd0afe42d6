"""Many captures at once (group commit on SQLite): each stored once, each acknowledged
with what was stored, and one bad capture refused alone. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from knowledge.db import Database
from knowledge.directory import Directory
from knowledge.failures import NOT_UNICODE, explain
from knowledge.insights import InsightStore
from knowledge.models import Insight, InsightTag, Member, Source
from knowledge.views import CaptureResult
from tests.harness.store_rows import console_message


async def count(database: Database, what: object) -> int:
    async with database.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(what)) or 0)  # type: ignore[arg-type]


async def test_concurrent_captures_are_each_stored_once_and_acknowledged(
    database: Database,
) -> None:
    directory = Directory(database)
    community = await directory.ensure_community("guild", "The Guild", "UTC")
    curator = await directory.resolve_member(community.id, "console", "cora", "Cora")
    store = InsightStore(database)
    # 40 messages by 5 authors (new members, made inside the captures), each captured
    # twice at the same moment, with a tag shared by all and one of their own
    ids = [str(n) for n in range(40)]

    async def capture(message_id: str) -> CaptureResult:
        return await store.capture(
            community.id,
            console_message(
                message_id,
                f"Insight number {message_id} about pairing",
                f"author{int(message_id) % 5}",
            ),
            curator=curator,
            tags=["shared", f"own{message_id}"],
        )

    results = await asyncio.gather(*(capture(i) for i in ids + ids))
    first, second = results[:40], results[40:]
    for message_id, a, b in zip(ids, first, second, strict=True):
        assert {a.created, b.created} == {True, False}  # one created it, one found it
        assert a.insight.id == b.insight.id
        assert a.insight.source_message_id == message_id
        assert a.insight.tags == b.insight.tags == tuple(sorted(["shared", f"own{message_id}"]))
        assert a.insight.author_name == b.insight.author_name
    # acknowledged means committed: another connection sees every one of them
    for result in first + second:
        assert (await store.get(community.id, result.insight.id)).body == result.insight.body
    assert await count(database, Insight) == 40
    assert await count(database, Source) == 40
    assert await count(database, InsightTag) == 80
    assert await count(database, Member) == 6  # the curator and five authors, once each
    assert len({r.insight.id for r in first}) == 40


async def test_a_capture_the_database_refuses_fails_alone(database: Database) -> None:
    directory = Directory(database)
    community = await directory.ensure_community("guild", "The Guild", "UTC")
    curator = await directory.resolve_member(community.id, "console", "cora", "Cora")
    store = InsightStore(database)
    gone = community.id + 1000  # no such community: its rows break a foreign key

    async def capture(n: int) -> CaptureResult:
        target = gone if n == 3 else community.id
        body = "half an emoji \ud83d" if n == 5 else None  # text no database can store
        return await store.capture(
            target,
            console_message(str(n), f"Insight number {n} about pairing", "ann"),
            curator=curator,
            body=body,
        )

    outcomes = await asyncio.gather(*(capture(n) for n in range(8)), return_exceptions=True)
    assert isinstance(outcomes[3], Exception)
    assert isinstance(outcomes[5], Exception)
    assert explain(outcomes[5]) == NOT_UNICODE  # one sentence for the person, not a trace
    stored = [o for n, o in enumerate(outcomes) if n not in (3, 5)]
    assert all(isinstance(o, CaptureResult) and o.created for o in stored)
    assert await count(database, Insight) == 6
    assert await store.count(community.id) == 6
