"""roles: where a member's role came from, and the platform's own grant beside it

Plain ADD COLUMN (no batch copy on SQLite). Until now a role from the platform (a Slack
admin, a Discord role, a Matrix power level) and one from the config file were written
to the same `role` column and told apart by nothing. Existing raised roles move to
`platform_role`, so the platform can take back what it gave; the config file's
`stewards`/`curators` are applied again (as `config`) by every start, which follows this
migration at once.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "members",
        sa.Column(
            "role_source",
            sa.Enum(
                "config", "hearth", "platform", name="rolesource", native_enum=False, length=16
            ),
            nullable=True,
        ),
    )
    op.add_column(
        "members",
        sa.Column(
            "platform_role",
            sa.Enum("member", "curator", "steward", name="role", native_enum=False, length=16),
            nullable=True,
        ),
    )
    op.execute("UPDATE members SET platform_role = role, role = 'member' WHERE role <> 'member'")


def downgrade() -> None:
    op.execute(
        "UPDATE members SET role = platform_role "
        "WHERE platform_role = 'steward' OR (platform_role = 'curator' AND role = 'member')"
    )
    op.drop_column("members", "platform_role")
    op.drop_column("members", "role_source")
