"""ActivityPub federation: each community's signing key, its remote followers, the inbox
log (idempotent by activity id), the durable delivery queue, and what was published."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from knowledge.models.base import Base


class FederationKey(Base):
    """A community's RSA key pair; the private half encrypted (PKCS#8, passphrase from the
    environment), so a database dump alone cannot sign as the community."""

    __tablename__ = "federation_keys"

    community_id: Mapped[int] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True
    )
    public_pem: Mapped[str] = mapped_column(Text)
    private_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column()
    # after a rotation, the pair before it, kept for `[federation] key_overlap_hours`
    previous_public_pem: Mapped[str | None] = mapped_column(Text, default=None)
    previous_private_pem: Mapped[str | None] = mapped_column(Text, default=None)
    rotated_at: Mapped[datetime | None] = mapped_column(default=None)


class FederationFollower(Base):
    """A remote actor following a community (an accepted Follow)."""

    __tablename__ = "federation_followers"
    __table_args__ = (UniqueConstraint("community_id", "actor"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    actor: Mapped[str] = mapped_column(String(2000))
    inbox: Mapped[str] = mapped_column(String(2000))
    follow_id: Mapped[str] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column()


class FederationInboxItem(Base):
    """A verified activity, written before 202 is answered; handled afterwards, once."""

    __tablename__ = "federation_inbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_key: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 of its id
    activity_id: Mapped[str] = mapped_column(String(2000))
    actor: Mapped[str] = mapped_column(String(2000))
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column()
    handled_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    outcome: Mapped[str | None] = mapped_column(String(500), default=None)


class FederationDelivery(Base):
    """One signed POST to one remote inbox. Same rules as the relay outbox: a lane (the
    inbox) goes in id order, claims carry a lease, failures back off, then park."""

    __tablename__ = "federation_deliveries"
    __table_args__ = (Index("ix_federation_deliveries_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)  # idempotency key
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    inbox: Mapped[str] = mapped_column(String(2000))
    lane: Mapped[str] = mapped_column(String(64), index=True)  # sha256 of the inbox
    activity: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column()
    claimed_by: Mapped[str | None] = mapped_column(String(200), default=None)
    claimed_until: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(String(500), default=None)
    created_at: Mapped[datetime] = mapped_column()
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)


class FederationPublished(Base):
    """A public insight announced to followers (Create); `withdrawn_at` once a Delete was
    queued because it stopped being public or was forgotten. No foreign key to insights:
    the row must outlive the insight to say Delete."""

    __tablename__ = "federation_published"

    community_id: Mapped[int] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True
    )
    insight_id: Mapped[int] = mapped_column(primary_key=True)
    published_at: Mapped[datetime] = mapped_column()
    insight_updated_at: Mapped[datetime | None] = mapped_column(default=None)  # as last told
    withdrawn_at: Mapped[datetime | None] = mapped_column(default=None)


class FederatedLink(Base):
    """A constellation link whose other side lives on another deployment.

    The remote community is a local `communities` row named `slug@host` (so links, relays
    and `/relay status` treat it like any sibling); this row holds where its actor and
    inbox are, the Follow this side sent, and whether the other side accepted it (relays
    go out only then)."""

    __tablename__ = "federated_links"

    link_id: Mapped[int] = mapped_column(
        ForeignKey("links.id", ondelete="CASCADE"), primary_key=True
    )
    local_community_id: Mapped[int] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE")
    )
    remote_community_id: Mapped[int] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE")
    )
    remote_actor: Mapped[str] = mapped_column(String(2000), index=True)
    remote_inbox: Mapped[str] = mapped_column(String(2000))
    follow_id: Mapped[str] = mapped_column(String(2000))
    they_accepted: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column()
    # what this side last told the other of its steward's sharing and pause (Add/Remove,
    # bot/federation/shared_documents.py), and how many such changes it sent
    told_shares: Mapped[bool] = mapped_column(default=False, server_default=false())
    told_paused: Mapped[bool] = mapped_column(default=False, server_default=false())
    consent_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class FederationShared(Base):
    """What a linked remote community was told of this side's knowledge: a shared insight
    (`article`, as of its updated_at) or an adoption of theirs (`announce`, object = their
    Article's id). `withdrawn_at` once its Delete / Undo was queued; `generation` counts
    re-shares so each Create carries a new activity id. No foreign key to insights: the
    row must outlive the insight to say Delete."""

    __tablename__ = "federation_shared"

    link_id: Mapped[int] = mapped_column(
        ForeignKey("links.id", ondelete="CASCADE"), primary_key=True
    )
    insight_id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    object_id: Mapped[str | None] = mapped_column(String(2000), default=None)
    insight_updated_at: Mapped[datetime | None] = mapped_column(default=None)
    generation: Mapped[int] = mapped_column(default=1)
    told_at: Mapped[datetime] = mapped_column()
    withdrawn_at: Mapped[datetime | None] = mapped_column(default=None)
