"""Migrations and models agree, on both backends, and upgrade an empty database."""

from __future__ import annotations

from knowledge.db import Database
from knowledge.migrate import current_revision, head_revision, schema_drift


async def test_upgrade_head_on_empty_database_equals_the_models(database: Database) -> None:
    assert await current_revision(database) == head_revision()
    assert await schema_drift(database) == []
