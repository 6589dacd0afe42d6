"""Start-up skips Alembic when the database is already at the newest schema: the head
read from the migration files is Alembic's own, and a database at another revision
(or an empty one) is left to Alembic."""

from __future__ import annotations

from pathlib import Path

from knowledge import migrate
from knowledge.db import Database, open_database
from knowledge.schema_version import head_revision, is_current, stored_revision


def test_the_head_read_from_the_files_is_alembics() -> None:
    assert head_revision() == migrate.head_revision()


async def test_a_migrated_database_is_current(database: Database) -> None:
    assert await stored_revision(database) == migrate.head_revision()
    assert await is_current(database)


async def test_an_empty_or_older_database_is_not_current(tmp_path: Path) -> None:
    database = open_database(f"sqlite:///{tmp_path / 'new.db'}")
    try:
        assert await stored_revision(database) is None
        assert not await is_current(database)
        await migrate.upgrade(database, "0008")
        assert await stored_revision(database) == "0008"
        assert not await is_current(database)
    finally:
        await database.dispose()
