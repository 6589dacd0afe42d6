"""shared knowledge visibility adoption

Plain ADD COLUMN (no batch copy on SQLite): recreating `insights` would drop the FTS
triggers that keep search in step, and cascade deletes of its dependants.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 02:21:44.076646
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("links", sa.Column("invited_slug", sa.String(length=64), nullable=True))
    op.add_column(
        "communities",
        sa.Column(
            "default_visibility", sa.String(length=16), server_default="community", nullable=False
        ),
    )
    op.add_column(
        "insights",
        sa.Column("visibility", sa.String(length=16), server_default="community", nullable=False),
    )
    op.add_column("insights", sa.Column("shared_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("insights", sa.Column("origin_insight_id", sa.Integer(), nullable=True))
    op.add_column("insights", sa.Column("origin_community_id", sa.Integer(), nullable=True))
    op.add_column("insights", sa.Column("origin_credit", sa.String(length=300), nullable=True))
    op.create_index(
        op.f("ix_insights_community_id_visibility"), "insights", ["community_id", "visibility"]
    )
    op.create_index(op.f("ix_insights_origin_insight_id"), "insights", ["origin_insight_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_insights_origin_insight_id"), table_name="insights")
    op.drop_index(op.f("ix_insights_community_id_visibility"), table_name="insights")
    for column in (
        "origin_credit",
        "origin_community_id",
        "origin_insight_id",
        "shared_at",
        "visibility",
    ):
        op.drop_column("insights", column)
    op.drop_column("communities", "default_visibility")
    op.drop_column("links", "invited_slug")
