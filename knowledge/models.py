"""The knowledge store's schema: one typed SQLAlchemy model shared by SQLite and PostgreSQL.

Idempotency lives here, as unique constraints: a source message is stored once per
channel, an insight once per (community, source), a tag once per community, an inbound
event once per (platform, event id). Code above inserts with ON CONFLICT DO NOTHING and
never checks-then-inserts.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from knowledge.db import stamped_now


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on every backend (SQLite would hand back naive datetimes)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Role(enum.StrEnum):
    """Ordered: a steward may do all a curator may, a curator all a member may."""

    MEMBER = "member"
    CURATOR = "curator"
    STEWARD = "steward"

    @property
    def rank(self) -> int:
        return _ROLE_RANK[self]

    def at_least(self, other: Role) -> bool:
        return self.rank >= other.rank


_ROLE_RANK = {Role.MEMBER: 0, Role.CURATOR: 1, Role.STEWARD: 2}


class RoleSource(enum.StrEnum):
    """Where a member's role came from, which decides who may take it away.

    The platform (Slack admin, Discord role, Matrix power level) may lower only what it
    granted itself; a role from the config file or granted inside Hearth stays.
    """

    CONFIG = "config"
    HEARTH = "hearth"
    PLATFORM = "platform"


NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


class Visibility(enum.StrEnum):
    """Who may find an insight: its community, linked siblings that share, or anyone."""

    COMMUNITY = "community"
    CONSTELLATION = "constellation"
    PUBLIC = "public"

    @property
    def shared(self) -> bool:
        return self is not Visibility.COMMUNITY


SHARED_VISIBILITIES = (Visibility.CONSTELLATION.value, Visibility.PUBLIC.value)


class Community(Base):
    __tablename__ = "communities"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    created_at: Mapped[datetime] = mapped_column(default=stamped_now)
    default_visibility: Mapped[str] = mapped_column(
        String(16), default="community", server_default="community"
    )


class ChannelBinding(Base):
    """Which community a platform channel belongs to."""

    __tablename__ = "channel_bindings"
    __table_args__ = (UniqueConstraint("platform", "space", "channel"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(32))
    space: Mapped[str] = mapped_column(String(255))
    channel: Mapped[str] = mapped_column(String(255))


class Member(Base):
    """A person within one community; platform identities point here."""

    __tablename__ = "members"

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), index=True
    )
    display_name: Mapped[str] = mapped_column(String(200))
    # Two grants, kept apart so each source can only take back its own: `role` is what
    # Hearth granted (the config file or a command; `role_source` says which, None for
    # none), `platform_role` what the platform last said (None: it never said). What the
    # member may do is the higher of the two (`knowledge.directory.member_info`).
    role: Mapped[Role] = mapped_column(
        Enum(Role, native_enum=False, length=16, values_callable=lambda r: [m.value for m in r]),
        default=Role.MEMBER,
    )
    role_source: Mapped[RoleSource | None] = mapped_column(
        Enum(
            RoleSource,
            native_enum=False,
            length=16,
            values_callable=lambda r: [m.value for m in r],
        ),
        default=None,
    )
    platform_role: Mapped[Role | None] = mapped_column(
        Enum(Role, native_enum=False, length=16, values_callable=lambda r: [m.value for m in r]),
        default=None,
    )
    created_at: Mapped[datetime] = mapped_column(default=stamped_now)
    forgotten_at: Mapped[datetime | None] = mapped_column(default=None)

    identities: Mapped[list[Identity]] = relationship(back_populates="member")


class Identity(Base):
    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("community_id", "platform", "platform_user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(32))
    platform_user_id: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(200))

    member: Mapped[Member] = relationship(back_populates="identities")


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
    visibility: Mapped[str] = mapped_column(
        String(16), default="community", server_default="community"
    )
    shared_at: Mapped[datetime | None] = mapped_column(default=None)  # for sibling digests
    # An adopted copy: the sibling's insight it came from, and who to credit for it. Plain
    # ids, no foreign keys: the copy outlives its origin (then it keeps only the credit).
    origin_insight_id: Mapped[int | None] = mapped_column(Integer, default=None, index=True)
    origin_community_id: Mapped[int | None] = mapped_column(Integer, default=None)
    origin_credit: Mapped[str | None] = mapped_column(String(300), default=None)

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


class GardenLogin(Base):
    """A one-time sign-in link for the web garden (`/garden login`): only its SHA-256 is
    kept; used once (`used_at`, set by one conditional UPDATE) before it expires."""

    __tablename__ = "garden_logins"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column(default=None)


class GardenSession(Base):
    """A member signed in to the web garden: the cookie holds the token, the store its
    SHA-256 and the session's CSRF token, so any instance can check either."""

    __tablename__ = "garden_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    csrf: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column()


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


class RitualKind(enum.StrEnum):
    REFLECTION = "reflection"
    RETRO = "retro"
    CHECKIN = "checkin"
    DIGEST = "digest"
    CUSTOM = "custom"


class RoundStatus(enum.StrEnum):
    PENDING = "pending"  # created, prompt not posted yet (or posting failed; will retry)
    OPEN = "open"
    CLOSED = "closed"
    MISSED = "missed"  # its time passed beyond the grace period while Hearth was down
    SKIPPED = "skipped"


def _str_enum(kind: type[enum.StrEnum]) -> Enum:
    return Enum(kind, native_enum=False, length=16, values_callable=lambda r: [m.value for m in r])


class Ritual(Base):
    """A recurring prompt in one channel; its rounds are keyed by scheduled time."""

    __tablename__ = "rituals"
    __table_args__ = (UniqueConstraint("community_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[RitualKind] = mapped_column(_str_enum(RitualKind))
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


class RitualRound(Base):
    __tablename__ = "ritual_rounds"
    __table_args__ = (
        UniqueConstraint("ritual_id", "scheduled_for"),
        Index(None, "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ritual_id: Mapped[int] = mapped_column(ForeignKey("rituals.id", ondelete="CASCADE"))
    scheduled_for: Mapped[datetime] = mapped_column()
    status: Mapped[RoundStatus] = mapped_column(_str_enum(RoundStatus), default=RoundStatus.PENDING)
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


class CommunityPrompt(Base):
    """A community's own reflection questions, rotated after (or instead of) the defaults."""

    __tablename__ = "community_prompts"
    __table_args__ = (UniqueConstraint("community_id", "kind", "text"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    kind: Mapped[RitualKind] = mapped_column(_str_enum(RitualKind))
    text: Mapped[str] = mapped_column(String(1000))
    added_by_member_id: Mapped[int | None] = mapped_column(
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


class SyncCursor(Base):
    """Where an adapter's event stream stopped (Matrix `next_batch`), so a restart resumes
    there: nothing sent while it was down is missed, nothing older is replayed."""

    __tablename__ = "sync_cursors"

    platform: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    token: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=stamped_now)


class LinkStatus(enum.StrEnum):
    INVITED = "invited"  # one side opted in; the code is waiting to be accepted
    ACTIVE = "active"  # both sides opted in
    LEFT = "left"  # one side left: final; a new link needs a new invitation


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


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    PARKED = "parked"  # kept failing or needs a person: waits for /relay retry
    FAILED = "failed"  # cannot ever succeed (its copy is gone): reported, skipped
    CANCELLED = "cancelled"  # its link was left


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
