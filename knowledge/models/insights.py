"""Insights: the source message each came from, tags, revisions and embeddings.

Idempotency lives here, as unique constraints: a source message is stored once per
channel, an insight once per (community, source), a tag once per community. Code above
inserts with ON CONFLICT DO NOTHING and never checks-then-inserts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from knowledge.db import stamped_now
from knowledge.models.base import Base, str_enum
from knowledge.models.people import Member
from knowledge.vocabulary import (
    Visibility,
)


class Source(Base):
    """A chat message Hearth keeps because an insight came from it."""

    __tablename__ = "sources"
    __table_args__ = (UniqueConstraint("platform", "space", "channel", "message_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), index=True
    )
    platform: Mapped[str] = mapped_column(String(32))
    space: Mapped[str] = mapped_column(String(255))
    channel: Mapped[str] = mapped_column(String(255))
    message_id: Mapped[str] = mapped_column(String(255))
    thread_id: Mapped[str | None] = mapped_column(String(255), default=None)
    author_member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), default=None, index=True
    )
    text: Mapped[str] = mapped_column(Text)
    permalink: Mapped[str | None] = mapped_column(String(1024), default=None)
    posted_at: Mapped[datetime] = mapped_column(default=stamped_now)
    edited_at: Mapped[datetime | None] = mapped_column(default=None)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)


class Insight(Base):
    __tablename__ = "insights"
    __table_args__ = (
        UniqueConstraint("community_id", "source_id"),
        Index(None, "community_id", "created_at"),
        Index(None, "community_id", "visibility"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="RESTRICT"))
    title: Mapped[str | None] = mapped_column(String(300), default=None)
    body: Mapped[str] = mapped_column(Text)
    author_member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), default=None, index=True
    )
    curator_member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), default=None, index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=stamped_now)
    updated_at: Mapped[datetime] = mapped_column(default=stamped_now)
    # community (default) | constellation (linked siblings that share knowledge) | public
    visibility: Mapped[Visibility] = mapped_column(
        str_enum(Visibility), default=Visibility.COMMUNITY, server_default="community"
    )
    shared_at: Mapped[datetime | None] = mapped_column(default=None)  # for sibling digests
    # An adopted copy: the sibling's insight it came from, and who to credit for it. Plain
    # ids, no foreign keys: the copy outlives its origin (then it keeps only the credit).
    origin_insight_id: Mapped[int | None] = mapped_column(Integer, default=None, index=True)
    origin_community_id: Mapped[int | None] = mapped_column(Integer, default=None)
    origin_credit: Mapped[str | None] = mapped_column(String(300), default=None)
    # Captured from a joint ritual's round: that joint round (plain id, see joint.py).
    joint_round_id: Mapped[int | None] = mapped_column(Integer, default=None, index=True)

    source: Mapped[Source] = relationship()
    author: Mapped[Member | None] = relationship(foreign_keys=[author_member_id])
    curator: Mapped[Member | None] = relationship(foreign_keys=[curator_member_id])
    tags: Mapped[list[Tag]] = relationship(secondary="insight_tags", order_by="Tag.name")


class Tag(Base):
    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("community_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))


class InsightTag(Base):
    __tablename__ = "insight_tags"

    insight_id: Mapped[int] = mapped_column(
        ForeignKey("insights.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[int] = mapped_column(
        ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class InsightRevision(Base):
    """The state of an insight before each change, so an edit never loses words."""

    __tablename__ = "insight_revisions"
    __table_args__ = (UniqueConstraint("insight_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    insight_id: Mapped[int] = mapped_column(ForeignKey("insights.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str | None] = mapped_column(String(300), default=None)
    body: Mapped[str] = mapped_column(Text)
    tags: Mapped[str] = mapped_column(Text, default="")
    editor_member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=stamped_now)


class InsightEmbedding(Base):
    """An insight's vector for semantic search: float32 bytes, named by the model that made
    it (vectors of different models are never compared). Kept beside the insight rather than
    in it, so full-text search and the default install never need to know about vectors."""

    __tablename__ = "insight_embeddings"

    insight_id: Mapped[int] = mapped_column(
        ForeignKey("insights.id", ondelete="CASCADE"), primary_key=True
    )
    model: Mapped[str] = mapped_column(String(200))
    dims: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=stamped_now)
    # the vector list it belongs to (knowledge/vector_index.py), valid while list_version
    # is the version stored in vector_lists for its model
    list_no: Mapped[int | None] = mapped_column(Integer, default=None)
    list_version: Mapped[int | None] = mapped_column(Integer, default=None)


class VectorListSet(Base):
    """One model's vector-list centroids (float32 bytes), learnt from `trained_rows` rows;
    kept so a restart does not learn them again (knowledge/vector_index.py)."""

    __tablename__ = "vector_lists"

    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    dims: Mapped[int] = mapped_column(Integer, primary_key=True)
    centroids: Mapped[bytes] = mapped_column()
    version: Mapped[int] = mapped_column(Integer)
    trained_rows: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(default=stamped_now)
