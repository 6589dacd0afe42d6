"""federated links: a constellation link whose other side is on another deployment

Revision ID: 0016
Revises: 0015
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "federated_links",
        sa.Column("link_id", sa.Integer(), nullable=False),
        sa.Column("local_community_id", sa.Integer(), nullable=False),
        sa.Column("remote_community_id", sa.Integer(), nullable=False),
        sa.Column("remote_actor", sa.String(length=2000), nullable=False),
        sa.Column("remote_inbox", sa.String(length=2000), nullable=False),
        sa.Column("follow_id", sa.String(length=2000), nullable=False),
        sa.Column("they_accepted", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["link_id"],
            ["links.id"],
            name=op.f("fk_federated_links_link_id_links"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["local_community_id"],
            ["communities.id"],
            name=op.f("fk_federated_links_local_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["remote_community_id"],
            ["communities.id"],
            name=op.f("fk_federated_links_remote_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("link_id", name=op.f("pk_federated_links")),
    )
    op.create_index(
        op.f("ix_federated_links_remote_actor"), "federated_links", ["remote_actor"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_federated_links_remote_actor"), table_name="federated_links")
    op.drop_table("federated_links")
