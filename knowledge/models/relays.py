"""The constellation: links between communities, relayed threads, their participants,
messages and copies, and the outbox that delivers each side effect once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from knowledge.db import stamped_now
from knowledge.models.base import Base
from knowledge.vocabulary import (
    LinkStatus,
    OutboxStatus,
)

_status_enum = Enum(
    LinkStatus, native_enum=False, length=16, values_callable=lambda r: [m.value for m in r]
)


class Link(Base):
    """Two communities that both chose to relay to each other (a constellation edge).

    `pair` holds "low-high" community ids while the link is active, so two active links
    between the same communities are impossible; it is NULL otherwise.
    """

    __tablename__ = "links"

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[LinkStatus] = mapped_column(_status_enum, default=LinkStatus.INVITED)
    code_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    code_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    pair: Mapped[str | None] = mapped_column(String(64), unique=True)
    whole_channel: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=stamped_now)
    accepted_at: Mapped[datetime | None] = mapped_column(default=None)
    left_at: Mapped[datetime | None] = mapped_column(default=None)
    left_by: Mapped[int | None] = mapped_column(Integer, default=None)  # community id
    # the community the code is for: where replies are public (Matrix), others can read it
    invited_slug: Mapped[str | None] = mapped_column(String(64), default=None)


class LinkSide(Base):
    """One community's end of a link: its consent, its channel, what it sends, its pause."""

    __tablename__ = "link_sides"
    __table_args__ = (UniqueConstraint("link_id", "community_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    link_id: Mapped[int] = mapped_column(ForeignKey("links.id", ondelete="CASCADE"), index=True)
    community_id: Mapped[int] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), index=True
    )
    platform: Mapped[str] = mapped_column(String(32))
    space: Mapped[str] = mapped_column(String(255))
    channel: Mapped[str] = mapped_column(String(255))
    sends: Mapped[bool] = mapped_column(default=True)
    receives: Mapped[bool] = mapped_column(default=True)
    paused: Mapped[bool] = mapped_column(default=False)
    shares_knowledge: Mapped[bool] = mapped_column(default=False)
    consented_by: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), default=None
    )
    consented_at: Mapped[datetime] = mapped_column(default=stamped_now)


class RelayThread(Base):
    """A thread some community chose to relay; its copies live in the participants."""

    __tablename__ = "relay_threads"

    id: Mapped[int] = mapped_column(primary_key=True)
    origin_community_id: Mapped[int] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=stamped_now)
    last_activity_at: Mapped[datetime] = mapped_column(default=stamped_now)


class RelayParticipant(Base):
    """One channel taking part in a relayed thread: the origin or a sibling's copy.

    `anchor_id` is the thread's root in this channel (the original root, or its copy once
    delivered): replies there belong to the relayed thread.
    """

    __tablename__ = "relay_participants"
    __table_args__ = (
        UniqueConstraint("relay_thread_id", "platform", "space", "channel"),
        Index(None, "platform", "space", "channel", "anchor_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    relay_thread_id: Mapped[int] = mapped_column(
        ForeignKey("relay_threads.id", ondelete="CASCADE"), index=True
    )
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    link_id: Mapped[int | None] = mapped_column(
        ForeignKey("links.id", ondelete="CASCADE"), default=None, index=True
    )
    platform: Mapped[str] = mapped_column(String(32))
    space: Mapped[str] = mapped_column(String(255))
    channel: Mapped[str] = mapped_column(String(255))
    anchor_id: Mapped[str | None] = mapped_column(String(255), default=None)


class RelayMessage(Base):
    """A message written in a relayed thread, on the side where a person wrote it."""

    __tablename__ = "relay_messages"
    __table_args__ = (UniqueConstraint("participant_id", "message_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    relay_thread_id: Mapped[int] = mapped_column(
        ForeignKey("relay_threads.id", ondelete="CASCADE"), index=True
    )
    participant_id: Mapped[int] = mapped_column(
        ForeignKey("relay_participants.id", ondelete="CASCADE")
    )
    message_id: Mapped[str] = mapped_column(String(255))
    is_root: Mapped[bool] = mapped_column(default=False)
    author_name: Mapped[str] = mapped_column(String(200))
    digest: Mapped[str] = mapped_column(String(64))  # of the text: catch-up spots edits
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # as last relayed
    deleted: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=stamped_now)


class RelayCopy(Base):
    """Where a relayed message was copied to: unique per (message, target channel)."""

    __tablename__ = "relay_copies"
    __table_args__ = (
        UniqueConstraint("relay_message_id", "participant_id"),
        Index(None, "participant_id", "copy_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    relay_message_id: Mapped[int] = mapped_column(
        ForeignKey("relay_messages.id", ondelete="CASCADE")
    )
    participant_id: Mapped[int] = mapped_column(
        ForeignKey("relay_participants.id", ondelete="CASCADE")
    )
    copy_id: Mapped[str] = mapped_column(String(255))
    delivered_at: Mapped[datetime] = mapped_column(default=stamped_now)


class OutboxItem(Base):
    """One side effect on another platform, delivered at most once per `key`.

    Items of one target channel form a lane delivered in id order (a thread's replies
    keep their order); a parked item holds its lane until someone retries it.
    """

    __tablename__ = "relay_outbox"
    __table_args__ = (
        Index(None, "status", "next_attempt_at"),
        Index(None, "participant_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    relay_thread_id: Mapped[int] = mapped_column(
        ForeignKey("relay_threads.id", ondelete="CASCADE"), index=True
    )
    participant_id: Mapped[int] = mapped_column(
        ForeignKey("relay_participants.id", ondelete="CASCADE")
    )
    relay_message_id: Mapped[int | None] = mapped_column(
        ForeignKey("relay_messages.id", ondelete="CASCADE"), default=None
    )
    link_id: Mapped[int | None] = mapped_column(  # the link that carries it; None: a notice
        ForeignKey("links.id", ondelete="CASCADE"), default=None, index=True
    )
    operation: Mapped[str] = mapped_column(String(16))  # post, edit, delete, notice
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[OutboxStatus] = mapped_column(
        Enum(
            OutboxStatus,
            native_enum=False,
            length=16,
            values_callable=lambda r: [m.value for m in r],
        ),
        default=OutboxStatus.PENDING,
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=stamped_now)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    claimed_by: Mapped[str | None] = mapped_column(String(128), default=None)
    claimed_until: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=stamped_now)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)
