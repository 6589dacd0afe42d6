"""searchidx: stored vector lists; pgvector where the server has it; tags in SQLite's FTS5

Each vector row keeps the list it belongs to, and `vector_lists` the centroids, so a
restart no longer learns them again (knowledge/vector_index.py). On PostgreSQL with the
`vector` extension available (and this role allowed to create it), vectors are also kept
in a `vector` column with an HNSW index per dimension the packaged models use (256:
WordLlama, 384: MiniLM), and ranked there (knowledge/pgvector_search.py); without it,
nothing more is created and vectors are ranked in process as on SQLite.

SQLite: each insight's tag names are kept in `insights.tag_text` (by triggers on
insight_tags) and indexed as a third FTS5 column, so a tag filter narrows the words' match
inside FTS5 instead of testing every match's tags (knowledge/search/sqlite_fts.py). The
external-content FTS5 'delete' needs the exact old values: they are always the row's own
(`old.tag_text`), never recomputed, so the index cannot drift from its content.

Revision ID: 0018
Revises: 0017
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here (not imported): the migration must keep meaning what it meant.
_TAG_TEXT = (
    "(SELECT coalesce(group_concat(t.name, ' '), '') FROM insight_tags AS it"
    " JOIN tags AS t ON t.id = it.tag_id WHERE it.insight_id = {id})"
)
_SQLITE_UPGRADE = [
    "ALTER TABLE insights ADD COLUMN tag_text TEXT NOT NULL DEFAULT ''",
    # before the triggers change (the old one ignores tag_text); tagged rows only
    "UPDATE insights SET tag_text = "
    + _TAG_TEXT.format(id="insights.id")
    + " WHERE id IN (SELECT insight_id FROM insight_tags)",
    "DROP TRIGGER IF EXISTS insights_fts_au",
    "DROP TRIGGER IF EXISTS insights_fts_ad",
    "DROP TRIGGER IF EXISTS insights_fts_ai",
    "DROP TABLE IF EXISTS insights_fts",
    """CREATE VIRTUAL TABLE insights_fts USING fts5(
        title, body, tag_text, content='insights', content_rowid='id',
        tokenize='porter unicode61 remove_diacritics 2')""",
    "INSERT INTO insights_fts(insights_fts) VALUES ('rebuild')",
    """CREATE TRIGGER insights_fts_ai AFTER INSERT ON insights BEGIN
        INSERT INTO insights_fts(rowid, title, body, tag_text)
        VALUES (new.id, coalesce(new.title, ''), new.body, new.tag_text);
    END""",
    """CREATE TRIGGER insights_fts_ad AFTER DELETE ON insights BEGIN
        INSERT INTO insights_fts(insights_fts, rowid, title, body, tag_text)
        VALUES ('delete', old.id, coalesce(old.title, ''), old.body, old.tag_text);
    END""",
    """CREATE TRIGGER insights_fts_au AFTER UPDATE OF title, body, tag_text ON insights BEGIN
        INSERT INTO insights_fts(insights_fts, rowid, title, body, tag_text)
        VALUES ('delete', old.id, coalesce(old.title, ''), old.body, old.tag_text);
        INSERT INTO insights_fts(rowid, title, body, tag_text)
        VALUES (new.id, coalesce(new.title, ''), new.body, new.tag_text);
    END""",
    """CREATE TRIGGER insight_tags_text_ai AFTER INSERT ON insight_tags BEGIN
        UPDATE insights SET tag_text = """
    + _TAG_TEXT.format(id="new.insight_id")
    + """ WHERE id = new.insight_id;
    END""",
    """CREATE TRIGGER insight_tags_text_ad AFTER DELETE ON insight_tags BEGIN
        UPDATE insights SET tag_text = """
    + _TAG_TEXT.format(id="old.insight_id")
    + """ WHERE id = old.insight_id;
    END""",
]
_SQLITE_DOWNGRADE = [
    "DROP TRIGGER IF EXISTS insight_tags_text_ad",
    "DROP TRIGGER IF EXISTS insight_tags_text_ai",
    "DROP TRIGGER IF EXISTS insights_fts_au",
    "DROP TRIGGER IF EXISTS insights_fts_ad",
    "DROP TRIGGER IF EXISTS insights_fts_ai",
    "DROP TABLE IF EXISTS insights_fts",
    """CREATE VIRTUAL TABLE insights_fts USING fts5(
        title, body, content='insights', content_rowid='id',
        tokenize='porter unicode61 remove_diacritics 2')""",
    "INSERT INTO insights_fts(insights_fts) VALUES ('rebuild')",
    """CREATE TRIGGER insights_fts_ai AFTER INSERT ON insights BEGIN
        INSERT INTO insights_fts(rowid, title, body)
        VALUES (new.id, coalesce(new.title, ''), new.body);
    END""",
    """CREATE TRIGGER insights_fts_ad AFTER DELETE ON insights BEGIN
        INSERT INTO insights_fts(insights_fts, rowid, title, body)
        VALUES ('delete', old.id, coalesce(old.title, ''), old.body);
    END""",
    """CREATE TRIGGER insights_fts_au AFTER UPDATE OF title, body ON insights BEGIN
        INSERT INTO insights_fts(insights_fts, rowid, title, body)
        VALUES ('delete', old.id, coalesce(old.title, ''), old.body);
        INSERT INTO insights_fts(rowid, title, body)
        VALUES (new.id, coalesce(new.title, ''), new.body);
    END""",
    "ALTER TABLE insights DROP COLUMN tag_text",
]
_PGVECTOR_DIMS = (256, 384)
_CAN_CREATE = (
    "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector')"
    " OR (EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector')"
    " AND (SELECT rolsuper FROM pg_roles WHERE rolname = current_user))"
)


def upgrade() -> None:
    with op.batch_alter_table("insight_embeddings") as batch:
        batch.add_column(sa.Column("list_no", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("list_version", sa.Integer(), nullable=True))
    op.create_table(
        "vector_lists",
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("dims", sa.Integer(), nullable=False),
        sa.Column("centroids", sa.LargeBinary(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("trained_rows", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("model", "dims", name=op.f("pk_vector_lists")),
    )
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for statement in _SQLITE_UPGRADE:
            op.execute(statement)
    if bind.dialect.name != "postgresql" or not bind.execute(sa.text(_CAN_CREATE)).scalar():
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    op.execute("ALTER TABLE insight_embeddings ADD COLUMN embedding vector")
    for dims in _PGVECTOR_DIMS:
        op.execute(
            f"CREATE INDEX ix_insight_embeddings_hnsw_{dims} ON insight_embeddings"
            f" USING hnsw ((embedding::vector({dims})) vector_cosine_ops) WHERE dims = {dims}"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in _SQLITE_DOWNGRADE:
            op.execute(statement)
    if op.get_bind().dialect.name == "postgresql":
        for dims in _PGVECTOR_DIMS:
            op.execute(f"DROP INDEX IF EXISTS ix_insight_embeddings_hnsw_{dims}")
        op.execute("ALTER TABLE insight_embeddings DROP COLUMN IF EXISTS embedding")
    op.drop_table("vector_lists")
    with op.batch_alter_table("insight_embeddings") as batch:
        batch.drop_column("list_version")
        batch.drop_column("list_no")
