"""The web garden's sign-in: one-time links and the sessions they open."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from knowledge.models.base import Base


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
