"""Full-text search structures the ORM cannot describe, one set per backend.

SQLite gets an external-content FTS5 table kept in step by triggers; PostgreSQL a GIN
expression index. Both are created by migrations and hidden from `alembic check`.
"""

from __future__ import annotations

from typing import Any

SQLITE_FTS_TABLE = "insights_fts"
POSTGRES_TSVECTOR = "to_tsvector('english', coalesce(insights.title, '') || ' ' || insights.body)"
POSTGRES_SEARCH_INDEX = "ix_insights_search"

SQLITE_FTS_CREATE = [
    f"""CREATE VIRTUAL TABLE {SQLITE_FTS_TABLE} USING fts5(
        title, body, content='insights', content_rowid='id',
        tokenize='porter unicode61 remove_diacritics 2')""",
    f"""CREATE TRIGGER insights_fts_ai AFTER INSERT ON insights BEGIN
        INSERT INTO {SQLITE_FTS_TABLE}(rowid, title, body)
        VALUES (new.id, coalesce(new.title, ''), new.body);
    END""",
    f"""CREATE TRIGGER insights_fts_ad AFTER DELETE ON insights BEGIN
        INSERT INTO {SQLITE_FTS_TABLE}({SQLITE_FTS_TABLE}, rowid, title, body)
        VALUES ('delete', old.id, coalesce(old.title, ''), old.body);
    END""",
    f"""CREATE TRIGGER insights_fts_au AFTER UPDATE OF title, body ON insights BEGIN
        INSERT INTO {SQLITE_FTS_TABLE}({SQLITE_FTS_TABLE}, rowid, title, body)
        VALUES ('delete', old.id, coalesce(old.title, ''), old.body);
        INSERT INTO {SQLITE_FTS_TABLE}(rowid, title, body)
        VALUES (new.id, coalesce(new.title, ''), new.body);
    END""",
]
SQLITE_FTS_DROP = [
    "DROP TRIGGER IF EXISTS insights_fts_au",
    "DROP TRIGGER IF EXISTS insights_fts_ad",
    "DROP TRIGGER IF EXISTS insights_fts_ai",
    f"DROP TABLE IF EXISTS {SQLITE_FTS_TABLE}",
]
POSTGRES_CREATE = [
    f"CREATE INDEX {POSTGRES_SEARCH_INDEX} ON insights USING gin (({POSTGRES_TSVECTOR}))",
]
POSTGRES_DROP = [f"DROP INDEX IF EXISTS {POSTGRES_SEARCH_INDEX}"]


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Keep search structures out of autogenerate's model comparison."""
    if name is None:
        return True
    return not (name.startswith(SQLITE_FTS_TABLE) or name == POSTGRES_SEARCH_INDEX)
