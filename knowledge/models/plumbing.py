"""What keeps several instances and restarts honest: inbound events taken once, sync
positions, confirmations waiting in the store, and rate windows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from knowledge.db import stamped_now
from knowledge.models.base import Base


class InboundEvent(Base):
    """Platform events taken or handled: a redelivery is skipped once done, waits while
    a live instance (`taken_by`, see knowledge/liveness.py) handles it, and is handled
    again at once if its taker died. Rows without a taker fall back to a time lease."""

    __tablename__ = "inbound_events"

    platform: Mapped[str] = mapped_column(String(32), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(default=stamped_now)
    done_at: Mapped[datetime | None] = mapped_column(default=None)
    taken_by: Mapped[str | None] = mapped_column(String(64), default=None)


class SyncCursor(Base):
    """Where an adapter's event stream stopped (Matrix `next_batch`), so a restart resumes
    there: nothing sent while it was down is missed, nothing older is replayed."""

    __tablename__ = "sync_cursors"

    platform: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    token: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=stamped_now)


class PendingConfirmation(Base):
    """A preview waiting for its author's confirm (`/ritual confirm`, `/summarize accept`,
    `/forget-me confirm`). Kept in the store, not in a process, so the confirm may reach
    any instance; it counts only until `expires_at`, and is deleted once acted on."""

    __tablename__ = "pending_confirmations"

    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    expires_at: Mapped[datetime] = mapped_column()
    # while an instance acts on the confirm; lapses if it dies half-way
    claimed_until: Mapped[datetime | None] = mapped_column(default=None)


class RateWindow(Base):
    """How often a member used a limited action (model calls, invitations) in one fixed
    window; counted by one conditional upsert, so instances share the count."""

    __tablename__ = "rate_windows"

    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    action: Mapped[str] = mapped_column(String(32), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(primary_key=True)
    used: Mapped[int] = mapped_column(Integer, default=0)
