"""searchidx: stored vector lists; pgvector column and HNSW indexes where the server has it

Each vector row keeps the list it belongs to, and `vector_lists` the centroids, so a
restart no longer learns them again (knowledge/vector_index.py). On PostgreSQL with the
`vector` extension available (and this role allowed to create it), vectors are also kept
in a `vector` column with an HNSW index per dimension the packaged models use (256:
WordLlama, 384: MiniLM), and ranked there (knowledge/pgvector_search.py); without it,
nothing more is created and vectors are ranked in process as on SQLite.

Revision ID: 0016
Revises: 0014
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here (not imported): the migration must keep meaning what it meant.
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
    if op.get_bind().dialect.name == "postgresql":
        for dims in _PGVECTOR_DIMS:
            op.execute(f"DROP INDEX IF EXISTS ix_insight_embeddings_hnsw_{dims}")
        op.execute("ALTER TABLE insight_embeddings DROP COLUMN IF EXISTS embedding")
    op.drop_table("vector_lists")
    with op.batch_alter_table("insight_embeddings") as batch:
        batch.drop_column("list_version")
        batch.drop_column("list_no")
