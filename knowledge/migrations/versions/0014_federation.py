"""federation: signing keys, remote followers, inbox log, delivery queue, published insights

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _community(table: str) -> list[sa.Column[int] | sa.ForeignKeyConstraint]:
    return [
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f(f"fk_{table}_community_id_communities"),
            ondelete="CASCADE",
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "federation_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        *_community("federation_deliveries"),
        sa.Column("inbox", sa.String(length=2000), nullable=False),
        sa.Column("lane", sa.String(length=64), nullable=False),
        sa.Column("activity", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(length=200), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_federation_deliveries")),
        sa.UniqueConstraint("key", name=op.f("uq_federation_deliveries_key")),
    )
    op.create_index(
        "ix_federation_deliveries_due",
        "federation_deliveries",
        ["status", "next_attempt_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_federation_deliveries_lane"), "federation_deliveries", ["lane"], unique=False
    )
    op.create_table(
        "federation_followers",
        sa.Column("id", sa.Integer(), nullable=False),
        *_community("federation_followers"),
        sa.Column("actor", sa.String(length=2000), nullable=False),
        sa.Column("inbox", sa.String(length=2000), nullable=False),
        sa.Column("follow_id", sa.String(length=2000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_federation_followers")),
        sa.UniqueConstraint(
            "community_id", "actor", name=op.f("uq_federation_followers_community_id_actor")
        ),
    )
    op.create_table(
        "federation_inbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("activity_key", sa.String(length=64), nullable=False),
        sa.Column("activity_id", sa.String(length=2000), nullable=False),
        sa.Column("actor", sa.String(length=2000), nullable=False),
        *_community("federation_inbox"),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_federation_inbox")),
        sa.UniqueConstraint("activity_key", name=op.f("uq_federation_inbox_activity_key")),
    )
    op.create_index(
        op.f("ix_federation_inbox_handled_at"), "federation_inbox", ["handled_at"], unique=False
    )
    op.create_table(
        "federation_keys",
        *_community("federation_keys"),
        sa.Column("public_pem", sa.Text(), nullable=False),
        sa.Column("private_pem", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("community_id", name=op.f("pk_federation_keys")),
    )
    op.create_table(
        "federation_published",
        *_community("federation_published"),
        sa.Column("insight_id", sa.Integer(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("insight_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("community_id", "insight_id", name=op.f("pk_federation_published")),
    )


def downgrade() -> None:
    op.drop_table("federation_published")
    op.drop_table("federation_keys")
    op.drop_index(op.f("ix_federation_inbox_handled_at"), table_name="federation_inbox")
    op.drop_table("federation_inbox")
    op.drop_table("federation_followers")
    op.drop_index(op.f("ix_federation_deliveries_lane"), table_name="federation_deliveries")
    op.drop_index("ix_federation_deliveries_due", table_name="federation_deliveries")
    op.drop_table("federation_deliveries")
