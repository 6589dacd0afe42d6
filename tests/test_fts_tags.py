"""Tags inside SQLite's FTS5 index (migration 0018): a tag filter narrows the match in
FTS5, and retagging, editing and deleting keep the index exactly in step with the rows."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from knowledge.db import Database, open_database
from knowledge.directory import Directory
from knowledge.insights import InsightStore
from knowledge.migrate import upgrade
from knowledge.search import SearchQuery, open_search, parse_terms
from knowledge.views import SourceMessage


async def found(database: Database, community_id: int, words: str, tag: str) -> list[int]:
    page = await open_search(database).search(
        SearchQuery(community_id, parse_terms(words), tags=(tag,))
    )
    return [hit.insight_id for hit in page.hits]


async def index_is_intact(database: Database) -> None:
    """FTS5's own check of an external-content index against its rows (raises if not)."""
    if database.dialect == "sqlite":
        async with database.engine.begin() as connection:
            await connection.execute(
                text("INSERT INTO insights_fts(insights_fts, rank) VALUES ('integrity-check', 1)")
            )


async def test_tag_filters_follow_retags_edits_and_deletes(database: Database) -> None:
    directory = Directory(database)
    guild = await directory.ensure_community("guild", "Guild", "UTC")
    cora = await directory.resolve_member(guild.id, "console", "cora", "Cora")
    store = InsightStore(database)

    async def capture(n: int, body: str, tags: list[str]) -> int:
        source = SourceMessage("console", "l", "g", str(n), body, "cora", "Cora")
        return (await store.capture(guild.id, source, curator=cora, tags=tags)).insight.id

    deploy = await capture(1, "Rollback plans make Friday deploys calm", ["ops", "testing"])
    scripts = await capture(2, "Rollback scripts are tested like features", ["ops"])
    await capture(3, "Rollback is also a word in this culture note", ["culture"])
    assert sorted(await found(database, guild.id, "rollback", "ops")) == [deploy, scripts]
    assert await found(database, guild.id, "rollback", "testing") == [deploy]
    assert await found(database, guild.id, "rollback", "test") == []  # tags are exact
    assert await found(database, guild.id, "ops", "culture") == []  # tags are not words

    await store.retag(guild.id, deploy, cora, ["culture"])
    assert await found(database, guild.id, "rollback", "ops") == [scripts]
    assert await found(database, guild.id, "friday", "culture") == [deploy]
    await store.edit(guild.id, scripts, cora, "Rollback scripts run in CI", add_tags=["ci"])
    assert await found(database, guild.id, "rollback", "ci") == [scripts]
    assert await found(database, guild.id, "tested", "ops") == []  # the old words are gone
    await store.retag(guild.id, scripts, cora, [])
    assert await found(database, guild.id, "rollback", "ops") == []
    await store.delete(guild.id, deploy, cora)
    assert await found(database, guild.id, "rollback", "culture") != [deploy]
    await index_is_intact(database)


async def test_the_upgrade_indexes_the_tags_of_insights_saved_before_it(tmp_path: Path) -> None:
    database = open_database(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        await upgrade(database, "0014")
        directory = Directory(database)
        guild = await directory.ensure_community("guild", "Guild", "UTC")
        cora = await directory.resolve_member(guild.id, "console", "cora", "Cora")
        source = SourceMessage("console", "l", "g", "1", "Compost heats up fast", "cora", "Cora")
        saved = await InsightStore(database).capture(
            guild.id, source, curator=cora, tags=["garden", "soil"]
        )
        await upgrade(database)
        assert await found(database, guild.id, "compost", "soil") == [saved.insight.id]
        assert await found(database, guild.id, "compost", "ops") == []
        await index_is_intact(database)
    finally:
        await database.dispose()
