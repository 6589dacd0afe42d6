"""Joint rituals: one question asked in several linked communities, each in its own place.

A joint ritual is proposed by one community (its owner) to linked ones; each answers for
itself (a participant row: invited, accepted, declined, left) and, on accepting, gets a
ritual of its own in its own channel. A joint round is the shared slot that the
communities' own rounds belong to; insights captured from them remember it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from knowledge.db import stamped_now
from knowledge.models.base import Base, str_enum
from knowledge.vocabulary import JointStatus, RitualKind


class JointRitual(Base):
    __tablename__ = "joint_rituals"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_community_id: Mapped[int] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[RitualKind] = mapped_column(str_enum(RitualKind))
    prompt: Mapped[str | None] = mapped_column(Text, default=None)
    schedule_text: Mapped[str] = mapped_column(String(200))
    cron: Mapped[str] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64))
    every_weeks: Mapped[int] = mapped_column(Integer, default=1)
    anchor: Mapped[str | None] = mapped_column(String(10), default=None)
    window_minutes: Mapped[int] = mapped_column(Integer)
    anonymous: Mapped[bool] = mapped_column(default=False)
    created_by_member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=stamped_now)


class JointParticipant(Base):
    """One community's answer to a joint ritual, and its own ritual once it accepted."""

    __tablename__ = "joint_participants"
    __table_args__ = (UniqueConstraint("joint_id", "community_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    joint_id: Mapped[int] = mapped_column(ForeignKey("joint_rituals.id", ondelete="CASCADE"))
    community_id: Mapped[int] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[JointStatus] = mapped_column(str_enum(JointStatus))
    ritual_id: Mapped[int | None] = mapped_column(
        ForeignKey("rituals.id", ondelete="SET NULL"), default=None
    )
    local_time: Mapped[str | None] = mapped_column(String(80), default=None)  # "HH:MM Zone"
    decided_by_member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), default=None
    )
    decided_at: Mapped[datetime | None] = mapped_column(default=None)


class JointRound(Base):
    """A joint ritual's slot: every community's own round of it points here."""

    __tablename__ = "joint_rounds"
    __table_args__ = (UniqueConstraint("joint_id", "scheduled_for"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    joint_id: Mapped[int] = mapped_column(ForeignKey("joint_rituals.id", ondelete="CASCADE"))
    scheduled_for: Mapped[datetime] = mapped_column()
    closes_at: Mapped[datetime] = mapped_column()
