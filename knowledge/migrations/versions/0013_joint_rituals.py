"""joint rituals: proposals to linked communities, their answers, shared rounds

Plain ADD COLUMN on existing tables (no batch copy on SQLite: recreating `insights`
would drop its FTS triggers); the new columns hold plain ids, like adopted insights'.

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete=ondelete
    )


def upgrade() -> None:
    op.create_table(
        "joint_rituals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_community_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=True),
        sa.Column("schedule_text", sa.String(length=200), nullable=False),
        sa.Column("cron", sa.String(length=100), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("every_weeks", sa.Integer(), nullable=False),
        sa.Column("anchor", sa.String(length=10), nullable=True),
        sa.Column("window_minutes", sa.Integer(), nullable=False),
        sa.Column("anonymous", sa.Boolean(), nullable=False),
        sa.Column("created_by_member_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _fk("joint_rituals", "owner_community_id", "communities", "CASCADE"),
        _fk("joint_rituals", "created_by_member_id", "members", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_joint_rituals")),
    )
    op.create_index(
        op.f("ix_joint_rituals_owner_community_id"), "joint_rituals", ["owner_community_id"]
    )
    op.create_table(
        "joint_participants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("joint_id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("ritual_id", sa.Integer(), nullable=True),
        sa.Column("local_time", sa.String(length=80), nullable=True),
        sa.Column("decided_by_member_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        _fk("joint_participants", "joint_id", "joint_rituals", "CASCADE"),
        _fk("joint_participants", "community_id", "communities", "CASCADE"),
        _fk("joint_participants", "ritual_id", "rituals", "SET NULL"),
        _fk("joint_participants", "decided_by_member_id", "members", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_joint_participants")),
        sa.UniqueConstraint(
            "joint_id", "community_id", name=op.f("uq_joint_participants_joint_id_community_id")
        ),
    )
    op.create_index(
        op.f("ix_joint_participants_community_id"), "joint_participants", ["community_id"]
    )
    op.create_table(
        "joint_rounds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("joint_id", sa.Integer(), nullable=False),
        sa.Column("scheduled_for", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closes_at", sa.DateTime(timezone=True), nullable=False),
        _fk("joint_rounds", "joint_id", "joint_rituals", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_joint_rounds")),
        sa.UniqueConstraint(
            "joint_id", "scheduled_for", name=op.f("uq_joint_rounds_joint_id_scheduled_for")
        ),
    )
    op.add_column("rituals", sa.Column("joint_id", sa.Integer(), nullable=True))
    op.add_column("rituals", sa.Column("local_time", sa.String(length=80), nullable=True))
    op.create_index(op.f("ix_rituals_joint_id"), "rituals", ["joint_id"])
    op.add_column("ritual_rounds", sa.Column("joint_round_id", sa.Integer(), nullable=True))
    op.add_column(
        "ritual_rounds", sa.Column("joint_due_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "ritual_rounds", sa.Column("joint_message_id", sa.String(length=255), nullable=True)
    )
    op.create_index(op.f("ix_ritual_rounds_joint_round_id"), "ritual_rounds", ["joint_round_id"])
    op.add_column("insights", sa.Column("joint_round_id", sa.Integer(), nullable=True))
    op.create_index(op.f("ix_insights_joint_round_id"), "insights", ["joint_round_id"])
    op.add_column(
        "member_preferences",
        sa.Column("quote_beyond", sa.Boolean(), server_default=sa.false(), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("member_preferences", "quote_beyond")
    op.drop_index(op.f("ix_insights_joint_round_id"), table_name="insights")
    op.drop_column("insights", "joint_round_id")
    op.drop_index(op.f("ix_ritual_rounds_joint_round_id"), table_name="ritual_rounds")
    for column in ("joint_message_id", "joint_due_at", "joint_round_id"):
        op.drop_column("ritual_rounds", column)
    op.drop_index(op.f("ix_rituals_joint_id"), table_name="rituals")
    op.drop_column("rituals", "local_time")
    op.drop_column("rituals", "joint_id")
    op.drop_table("joint_rounds")
    op.drop_index(op.f("ix_joint_participants_community_id"), table_name="joint_participants")
    op.drop_table("joint_participants")
    op.drop_index(op.f("ix_joint_rituals_owner_community_id"), table_name="joint_rituals")
    op.drop_table("joint_rituals")
