"""Rituals: definitions, their rounds (keyed by scheduled time), responses, members'
preferences and the community's prompt library."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from knowledge.db import stamped_now
from knowledge.models.base import Base, str_enum
from knowledge.vocabulary import (
    RitualKind,
    RoundStatus,
)


class Ritual(Base):
    """A recurring prompt in one channel; its rounds are keyed by scheduled time."""

    __tablename__ = "rituals"
    __table_args__ = (UniqueConstraint("community_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[RitualKind] = mapped_column(str_enum(RitualKind))
    platform: Mapped[str] = mapped_column(String(32))
    space: Mapped[str] = mapped_column(String(255))
    channel: Mapped[str] = mapped_column(String(255))
    schedule_text: Mapped[str] = mapped_column(String(200))
    cron: Mapped[str] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64))
    every_weeks: Mapped[int] = mapped_column(Integer, default=1)
    anchor: Mapped[str | None] = mapped_column(String(10), default=None)  # ISO date
    window_minutes: Mapped[int] = mapped_column(Integer)
    reminder_percent: Mapped[int | None] = mapped_column(Integer, default=80)
    prompt: Mapped[str | None] = mapped_column(Text, default=None)
    anonymous: Mapped[bool] = mapped_column(default=False)
    paused: Mapped[bool] = mapped_column(default=False)
    skip_next: Mapped[bool] = mapped_column(default=False)
    prompt_cursor: Mapped[int] = mapped_column(Integer, default=0)
    created_by_member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=stamped_now)
    # A community's part of a joint ritual (plain id: added to an existing table), and
    # its own hour within the joint window ("HH:MM Europe/Paris"), if it chose one.
    joint_id: Mapped[int | None] = mapped_column(Integer, default=None, index=True)
    local_time: Mapped[str | None] = mapped_column(String(80), default=None)


class RitualRound(Base):
    __tablename__ = "ritual_rounds"
    __table_args__ = (
        UniqueConstraint("ritual_id", "scheduled_for"),
        Index(None, "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ritual_id: Mapped[int] = mapped_column(ForeignKey("rituals.id", ondelete="CASCADE"))
    scheduled_for: Mapped[datetime] = mapped_column()
    status: Mapped[RoundStatus] = mapped_column(str_enum(RoundStatus), default=RoundStatus.PENDING)
    late: Mapped[bool] = mapped_column(default=False)
    manual: Mapped[bool] = mapped_column(default=False)
    prompt: Mapped[str] = mapped_column(Text, default="")
    message_id: Mapped[str | None] = mapped_column(String(255), default=None)
    opened_at: Mapped[datetime | None] = mapped_column(default=None)
    remind_at: Mapped[datetime | None] = mapped_column(default=None)
    reminded_at: Mapped[datetime | None] = mapped_column(default=None)
    closes_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    synthesis_message_id: Mapped[str | None] = mapped_column(String(255), default=None)
    synthesis_stale: Mapped[bool] = mapped_column(default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    # Joint rounds: the shared slot, when the constellation synthesis is due here (a
    # lease once claimed), and where it was posted.
    joint_round_id: Mapped[int | None] = mapped_column(Integer, default=None, index=True)
    joint_due_at: Mapped[datetime | None] = mapped_column(default=None)
    joint_message_id: Mapped[str | None] = mapped_column(String(255), default=None)


class RitualResponse(Base):
    """A reply in a round's thread; one per source message, edits and deletions followed."""

    __tablename__ = "ritual_responses"
    __table_args__ = (UniqueConstraint("round_id", "message_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(
        ForeignKey("ritual_rounds.id", ondelete="CASCADE"), index=True
    )
    message_id: Mapped[str] = mapped_column(String(255))
    member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), default=None
    )
    text: Mapped[str] = mapped_column(Text)
    anonymous: Mapped[bool] = mapped_column(default=False)
    late: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=stamped_now)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)


class MemberPreference(Base):
    """What a member chose for themselves: reminders, their time zone, a pause."""

    __tablename__ = "member_preferences"

    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    reminders: Mapped[bool] = mapped_column(default=False)
    timezone: Mapped[str | None] = mapped_column(String(64), default=None)
    snoozed_until: Mapped[datetime | None] = mapped_column(default=None)
    # May joint rituals quote this member's words in other communities? Off by default.
    quote_beyond: Mapped[bool] = mapped_column(default=False, server_default=false())


class CommunityPrompt(Base):
    """A community's own reflection questions, rotated after (or instead of) the defaults."""

    __tablename__ = "community_prompts"
    __table_args__ = (UniqueConstraint("community_id", "kind", "text"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    kind: Mapped[RitualKind] = mapped_column(str_enum(RitualKind))
    text: Mapped[str] = mapped_column(String(1000))
    added_by_member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=stamped_now)
