"""INSERT ... ON CONFLICT DO NOTHING for both backends: the basis of at-most-once writes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def insert_ignoring_conflict(
    session: AsyncSession,
    model: type[Any],
    values: dict[str, Any] | list[dict[str, Any]],
    conflict: Sequence[str],
) -> Any:
    """An INSERT (of one row or several) that skips rows whose unique key already exists."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = model.__table__  # Core, not the ORM bulk path: far less Python per row
    return insert(table).values(values).on_conflict_do_nothing(index_elements=list(conflict))


def insert_many_ignoring_conflict(
    session: AsyncSession, model: type[Any], conflict: Sequence[str]
) -> Any:
    """The same INSERT without values, for `execute(statement, rows)`: an executemany that
    SQLAlchemy compiles once whatever the number of rows (a multi-row VALUES is compiled
    again for every new row count), batching rows itself and returning what RETURNING
    asks for from the rows inserted."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(model.__table__).on_conflict_do_nothing(index_elements=list(conflict))
