"""garden: one-time sign-in links and member sessions for the web garden

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _member_and_community(table: str) -> list[sa.Column[int] | sa.ForeignKeyConstraint]:
    return [
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f(f"fk_{table}_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f(f"fk_{table}_member_id_members"),
            ondelete="CASCADE",
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "garden_logins",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        *_member_and_community("garden_logins"),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_garden_logins")),
    )
    op.create_index(
        op.f("ix_garden_logins_member_id"), "garden_logins", ["member_id"], unique=False
    )
    op.create_table(
        "garden_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        *_member_and_community("garden_sessions"),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_garden_sessions")),
    )
    op.create_index(
        op.f("ix_garden_sessions_member_id"), "garden_sessions", ["member_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_garden_sessions_member_id"), table_name="garden_sessions")
    op.drop_table("garden_sessions")
    op.drop_index(op.f("ix_garden_logins_member_id"), table_name="garden_logins")
    op.drop_table("garden_logins")
