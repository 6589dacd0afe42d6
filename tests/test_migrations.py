"""Migrations and models agree, on both backends, and upgrade an empty database."""

from __future__ import annotations

from knowledge.db import Database
from knowledge.migrate import current_revision, head_revision, schema_drift


async def test_upgrade_head_on_empty_database_equals_the_models(database: Database) -> None:
    assert await current_revision(database) == head_revision()
    assert await schema_drift(database) == []


def test_head_read_from_the_files_is_alembics_head() -> None:
    """Start-up reads the head without importing Alembic; it must be the head Alembic
    computes from the same scripts."""
    from alembic.script import ScriptDirectory

    from knowledge.migrate import alembic_config

    assert head_revision() == ScriptDirectory.from_config(alembic_config()).get_current_head()
