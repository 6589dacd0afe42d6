"""Communities, the channels bound to them, their members and the platform identities
that are those members."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Enum,
    ForeignKey,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from knowledge.db import stamped_now
from knowledge.models.base import Base, str_enum
from knowledge.vocabulary import (
    Role,
    RoleSource,
    Visibility,
)


class Community(Base):
    __tablename__ = "communities"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    created_at: Mapped[datetime] = mapped_column(default=stamped_now)
    default_visibility: Mapped[Visibility] = mapped_column(
        str_enum(Visibility), default=Visibility.COMMUNITY, server_default="community"
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
