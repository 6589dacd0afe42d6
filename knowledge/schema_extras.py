"""Names of the full-text search structures the ORM cannot describe.

SQLite has an external-content FTS5 table kept in step by triggers; PostgreSQL a
generated tsvector column with a GIN index (migration 0010; before it, an expression
index), and with pgvector a vector column with HNSW indexes (migration 0018).
Migrations create them (with their own frozen SQL); queries use these names, and
`alembic check` is told to look past them.
"""

from __future__ import annotations

from typing import Any

SQLITE_FTS_TABLE = "insights_fts"
POSTGRES_TSVECTOR = "insights.search_vector"
POSTGRES_TSVECTOR_COLUMN = "search_vector"
POSTGRES_SEARCH_INDEX = "ix_insights_search_vector"
# pgvector, where the server has it (migration 0018): a column and HNSW indexes
PGVECTOR_COLUMN = "embedding"
PGVECTOR_INDEX_PREFIX = "ix_insight_embeddings_hnsw_"
# SQLite: each insight's tag names, kept by triggers and indexed in FTS5 (migration 0018)
SQLITE_TAG_TEXT_COLUMN = "tag_text"


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Keep search structures out of autogenerate's model comparison."""
    if name is None:
        return True
    if type_ == "column" and name in (
        POSTGRES_TSVECTOR_COLUMN,
        PGVECTOR_COLUMN,
        SQLITE_TAG_TEXT_COLUMN,
    ):
        return False
    if name.startswith(PGVECTOR_INDEX_PREFIX):
        return False
    return not (name.startswith(SQLITE_FTS_TABLE) or name == POSTGRES_SEARCH_INDEX)
