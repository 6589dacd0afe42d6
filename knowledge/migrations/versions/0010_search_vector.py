"""meaning2: PostgreSQL keeps each insight's tsvector in a stored column

Matching and ranking recomputed `to_tsvector(title || body)` for every candidate row
(ts_rank_cd over every match, the recheck of every GIN hit): seconds at 100k. A
generated STORED column is computed once per write; the GIN index moves onto it and
ANALYZE gives the planner the statistics to start from it. SQLite: nothing changes (its
FTS5 index already stores what it matches).

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here (not imported): the migration must keep meaning what it meant.
_UPGRADE = [
    "ALTER TABLE insights ADD COLUMN search_vector tsvector GENERATED ALWAYS AS "
    "(to_tsvector('english', coalesce(title, '') || ' ' || body)) STORED",
    "CREATE INDEX ix_insights_search_vector ON insights USING gin (search_vector)",
    "DROP INDEX IF EXISTS ix_insights_search",
    "ANALYZE insights",
]
_DOWNGRADE = [
    "CREATE INDEX IF NOT EXISTS ix_insights_search ON insights USING gin "
    "((to_tsvector('english', coalesce(insights.title, '') || ' ' || insights.body)))",
    "DROP INDEX IF EXISTS ix_insights_search_vector",
    "ALTER TABLE insights DROP COLUMN IF EXISTS search_vector",
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in _UPGRADE:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in _DOWNGRADE:
            op.execute(statement)
