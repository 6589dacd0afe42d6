"""Slack workspaces that installed Hearth through OAuth, and the install flow's states."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from knowledge.db import stamped_now
from knowledge.models.base import Base


class SlackInstallation(Base):
    """One workspace's installation. `sealed` is the bot's installation (its token,
    refresh token, bot ids) as JSON encrypted with the deployment's Fernet key, so a
    database dump leaks no usable token; NULL once the workspace uninstalled or revoked
    it. `held_links` are the link ids its uninstall paused (resumed by a reinstall)."""

    __tablename__ = "slack_installations"
    __table_args__ = (UniqueConstraint("enterprise_id", "team_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_id: Mapped[str] = mapped_column(String(32), default="")
    team_id: Mapped[str] = mapped_column(String(32))
    team_name: Mapped[str] = mapped_column(String(255), default="")
    sealed: Mapped[str | None] = mapped_column(Text, default=None)
    held_links: Mapped[str] = mapped_column(Text, default="")  # "12,14"
    installed_at: Mapped[datetime] = mapped_column(default=stamped_now)
    removed_at: Mapped[datetime | None] = mapped_column(default=None)


class SlackOAuthState(Base):
    """An OAuth `state` handed to an installer's browser: consumed once, before it expires."""

    __tablename__ = "slack_oauth_states"

    state: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column()
