"""federation keys: the previous pair kept for an overlap window after a rotation

Revision ID: 0015
Revises: 0014
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("federation_keys") as batch:
        batch.add_column(sa.Column("previous_public_pem", sa.Text(), nullable=True))
        batch.add_column(sa.Column("previous_private_pem", sa.Text(), nullable=True))
        batch.add_column(sa.Column("rotated_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("federation_keys") as batch:
        batch.drop_column("rotated_at")
        batch.drop_column("previous_private_pem")
        batch.drop_column("previous_public_pem")
