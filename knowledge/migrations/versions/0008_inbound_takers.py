"""inbound events record the instance that took them

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 12:50:00

Why: a lease alone cannot tell a dead taker from a slow one; `taken_by` names the
instance (knowledge/liveness.py) so a restart retries its dead predecessor's event at once.
Existing rows keep NULL and the old lease rule.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("inbound_events") as batch:
        batch.add_column(sa.Column("taken_by", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("inbound_events") as batch:
        batch.drop_column("taken_by")
