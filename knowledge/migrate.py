"""Alembic driven from code, on the engine Hearth already has (no alembic.ini needed)."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from knowledge.db import Database
from knowledge.models import Base
from knowledge.schema_extras import include_object

SCRIPT_LOCATION = "knowledge:migrations"
MIGRATION_LOCK = 0x48454152  # the PostgreSQL advisory lock key every Hearth upgrades under


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def current_revision(database: Database) -> str | None:
    def _read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with database.engine.connect() as connection:
        return await connection.run_sync(_read)


async def upgrade(database: Database, revision: str = "head") -> None:
    """Upgrade under a lock, so instances starting together migrate once, one at a time.

    PostgreSQL: a transaction-scoped advisory lock, taken before Alembic reads the
    version, so a waiting instance finds the schema already at `revision` and does
    nothing. SQLite: the transaction is BEGIN IMMEDIATE (knowledge/db.py), which already
    admits one writer at a time across processes.
    """

    def _upgrade(connection: Connection) -> None:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
        command.upgrade(alembic_config(connection), revision)

    async with database.engine.begin() as connection:
        await connection.run_sync(_upgrade)


async def schema_drift(database: Database) -> list[object]:
    """Differences between the migrated database and the models; empty when they agree."""

    def _compare(connection: Connection) -> list[object]:
        context = MigrationContext.configure(
            connection, opts={"include_object": include_object, "compare_type": True}
        )
        return list(compare_metadata(context, Base.metadata))

    async with database.engine.connect() as connection:
        return await connection.run_sync(_compare)
