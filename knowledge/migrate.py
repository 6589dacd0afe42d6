"""Alembic driven from code, on the engine Hearth already has (no alembic.ini needed).

Why Alembic is imported only to migrate: a start-up that finds the schema at head (the
usual case) is answered by knowledge/schema_version.py, and the process never holds
Alembic (about 10 MiB).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from knowledge.db import Database
from knowledge.models import Base
from knowledge.schema_extras import include_object
from knowledge.schema_version import head_revision as files_head

if TYPE_CHECKING:
    from alembic.config import Config

SCRIPT_LOCATION = "knowledge:migrations"
MIGRATION_LOCK = 0x48454152  # the PostgreSQL advisory lock key every Hearth upgrades under


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    """The newest migration: from the files' `revision` lines when they form one chain
    (knowledge/schema_version.py), else (branches, an unusual file) as Alembic computes it."""
    head = files_head()
    if head is not None:
        return head
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def current_revision(database: Database) -> str | None:
    def _read(connection: Connection) -> str | None:
        if not inspect(connection).has_table("alembic_version"):
            return None
        rows = connection.execute(text("SELECT version_num FROM alembic_version")).all()
        if len(rows) > 1:  # branches: let Alembic say what it makes of them
            from alembic.migration import MigrationContext

            return MigrationContext.configure(connection).get_current_revision()
        return str(rows[0][0]) if rows else None

    async with database.engine.connect() as connection:
        return await connection.run_sync(_read)


async def upgrade(database: Database, revision: str = "head") -> None:
    """Upgrade under a lock, so instances starting together migrate once, one at a time.

    PostgreSQL: a transaction-scoped advisory lock, taken before Alembic reads the
    version, so a waiting instance finds the schema already at `revision` and does
    nothing. SQLite: the transaction is BEGIN IMMEDIATE (knowledge/db.py), which admits
    one writer at a time across processes; it is taken before Alembic starts.
    """

    def _upgrade(connection: Connection) -> None:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
        else:
            # BEGIN IMMEDIATE travels with a transaction's first statement
            # (knowledge/sqlite_cursor.py): send one now, so the write lock is held before
            # Alembic starts; its `context`/`op` are process-wide, and a second upgrade in
            # this process entering them while the first runs would break both.
            connection.exec_driver_sql("SELECT 1")
        from alembic import command

        command.upgrade(alembic_config(connection), revision)

    async with database.engine.begin() as connection:
        await connection.run_sync(_upgrade)


async def schema_drift(database: Database) -> list[object]:
    """Differences between the migrated database and the models; empty when they agree."""

    def _compare(connection: Connection) -> list[object]:
        from alembic.autogenerate import compare_metadata
        from alembic.migration import MigrationContext

        context = MigrationContext.configure(
            connection, opts={"include_object": include_object, "compare_type": True}
        )
        with warnings.catch_warnings():
            # pgvector's column (schema_extras, left out by include_object) is reflected
            # before it is left out, and SQLAlchemy knows no `vector` type
            warnings.filterwarnings("ignore", "Did not recognize type 'vector'")
            return list(compare_metadata(context, Base.metadata))

    async with database.engine.connect() as connection:
        return await connection.run_sync(_compare)
