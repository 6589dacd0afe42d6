"""Slack workspaces installed through OAuth: their sealed tokens, their community, their
links while they are away, and the install flow's one-time states.

Why the whole installation is sealed: the bot token, its refresh token and the bot's ids
travel together, and a database dump or `/export` must not hand out a working token. The
deployment's Fernet key (from the environment) encrypts them; without the key the rows
are noise. Why an uninstall keeps the row: the workspace's community and insights stay
until a steward deletes them, and the links it paused are resumed if it comes back. Its
rituals are held meanwhile (knowledge/ritual_holds.py reads `sealed IS NULL`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from knowledge.db import Database
from knowledge.directory import WHOLE_SPACE
from knowledge.models import (
    ChannelBinding,
    Community,
    LinkSide,
    OutboxItem,
    Ritual,
    RitualRound,
    SlackInstallation,
    SlackOAuthState,
)
from knowledge.upsert import insert_ignoring_conflict
from knowledge.vocabulary import OutboxStatus, RoundStatus

log = structlog.get_logger(__name__)

PLATFORM = "slack"


@dataclass(frozen=True)
class Installed:
    """What an install did: the workspace's community, links it resumed, and held
    ritual prompts it brought forward."""

    community_slugs: tuple[str, ...]
    created: bool
    resumed_links: int
    resumed_rounds: int = 0


class SlackInstalls:
    def __init__(self, database: Database, key: str) -> None:
        self._db = database
        self._fernet = Fernet(key.encode())

    # installations -----------------------------------------------------------------

    async def save(
        self, team_id: str, team_name: str, payload: dict[str, Any], enterprise_id: str = ""
    ) -> Installed:
        """Keep the workspace's installation (sealed), give it a community if none of the
        config's communities lives there, and resume the links its last uninstall paused."""
        sealed = self._fernet.encrypt(json.dumps(payload).encode()).decode()
        now = self._db.clock.now()
        async with self._db.sessions.begin() as session:
            key = {"enterprise_id": enterprise_id, "team_id": team_id}
            await session.execute(
                insert_ignoring_conflict(
                    session, SlackInstallation, {**key, "team_name": team_name}, list(key)
                )
            )
            row = (await session.execute(select(SlackInstallation).filter_by(**key))).scalar_one()
            held = [int(i) for i in row.held_links.split(",") if i]
            row.sealed, row.removed_at, row.held_links = sealed, None, ""
            row.team_name = team_name or row.team_name
            resumed = await _resume(session, held, team_id, now)
            rounds = await _resume_rounds(session, team_id, now)
            slugs, created = await _workspace_communities(session, team_id, team_name)
        log.info(
            "slack.installed",
            team=team_id,
            communities=slugs,
            resumed_links=resumed,
            resumed_ritual_prompts=rounds,
        )
        return Installed(slugs, created, resumed, rounds)

    async def refresh(self, team_id: str, payload: dict[str, Any], enterprise_id: str = "") -> bool:
        """A rotated token replaces the sealed one, only while the workspace is installed
        (one conditional UPDATE: a refresh racing an uninstall loses)."""
        sealed = self._fernet.encrypt(json.dumps(payload).encode()).decode()
        async with self._db.sessions.begin() as session:
            result = await session.execute(
                update(SlackInstallation)
                .where(
                    SlackInstallation.enterprise_id == enterprise_id,
                    SlackInstallation.team_id == team_id,
                    SlackInstallation.sealed.is_not(None),
                )
                .values(sealed=sealed)
            )
        return bool(getattr(result, "rowcount", 0))

    async def find(self, team_id: str, enterprise_id: str = "") -> dict[str, Any] | None:
        """The workspace's installation, unsealed; None if it never installed or left."""
        async with self._db.sessions() as session:
            sealed = await session.scalar(
                select(SlackInstallation.sealed).filter_by(
                    enterprise_id=enterprise_id, team_id=team_id
                )
            )
        if sealed is None:
            return None
        try:
            found: dict[str, Any] = json.loads(self._fernet.decrypt(sealed.encode()))
        except InvalidToken:
            log.error(
                "slack.token_unreadable",
                team=team_id,
                why="token_key is not the key it was sealed with",
            )
            return None
        return found

    async def remove(self, team_id: str, enterprise_id: str = "") -> int:
        """The workspace uninstalled Hearth or revoked its token: forget the token, pause
        the workspace's ends of its links (what is queued waits). Data stays. Returns how
        many links were paused; repeating it changes nothing."""
        async with self._db.sessions.begin() as session:
            row = await session.scalar(
                select(SlackInstallation).filter_by(enterprise_id=enterprise_id, team_id=team_id)
            )
            if row is None or row.sealed is None:
                return 0
            sides = (
                await session.scalars(
                    select(LinkSide).where(
                        LinkSide.platform == PLATFORM,
                        LinkSide.space == team_id,
                        LinkSide.paused.is_(False),
                    )
                )
            ).all()
            for side in sides:
                side.paused = True
            row.sealed, row.removed_at = None, self._db.clock.now()
            row.held_links = ",".join(str(s.link_id) for s in sides)
            rituals = await session.scalar(
                select(func.count(Ritual.id)).where(
                    Ritual.platform == PLATFORM, Ritual.space == team_id
                )
            )
        log.warning(
            "slack.uninstalled",
            team=team_id,
            paused_links=len(sides),
            held_rituals=rituals or 0,
            note="its rituals are held (not posted, not retried) until it installs Hearth again",
        )
        return len(sides)

    async def active_teams(self) -> list[str]:
        async with self._db.sessions() as session:
            rows = await session.scalars(
                select(SlackInstallation.team_id).where(SlackInstallation.sealed.is_not(None))
            )
            return sorted(rows)

    # OAuth states ------------------------------------------------------------------

    async def issue_state(self, state: str, lifetime: timedelta) -> None:
        expires_at = self._db.clock.now() + lifetime
        async with self._db.sessions.begin() as session:
            session.add(SlackOAuthState(state=state, expires_at=expires_at))

    async def consume_state(self, state: str) -> bool:
        """True once for a state issued here and not expired (one conditional DELETE, so a
        replayed callback, on any instance, is refused)."""
        now = self._db.clock.now()
        async with self._db.sessions.begin() as session:
            result = await session.execute(
                delete(SlackOAuthState).where(
                    SlackOAuthState.state == state, SlackOAuthState.expires_at > now
                )
            )
            await session.execute(delete(SlackOAuthState).where(SlackOAuthState.expires_at <= now))
            return bool(getattr(result, "rowcount", 0))


async def _resume(session: AsyncSession, link_ids: list[int], team_id: str, now: datetime) -> int:
    if not link_ids:
        return 0
    await session.execute(
        update(LinkSide)
        .where(
            LinkSide.link_id.in_(link_ids),
            LinkSide.platform == PLATFORM,
            LinkSide.space == team_id,
        )
        .values(paused=False)
    )
    await session.execute(  # what waited for the workspace goes now
        update(OutboxItem)
        .where(OutboxItem.link_id.in_(link_ids), OutboxItem.status == OutboxStatus.PENDING)
        .values(next_attempt_at=now)
    )
    return len(link_ids)


async def _resume_rounds(session: AsyncSession, team_id: str, now: datetime) -> int:
    """Prompts held while the workspace was away (knowledge.ritual_holds) are tried now."""
    in_team = select(Ritual.id).where(Ritual.platform == PLATFORM, Ritual.space == team_id)
    result = await session.execute(
        update(RitualRound)
        .where(RitualRound.ritual_id.in_(in_team), RitualRound.status == RoundStatus.PENDING)
        .values(next_attempt_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def _workspace_communities(
    session: AsyncSession, team_id: str, team_name: str
) -> tuple[tuple[str, ...], bool]:
    """The communities living in the workspace; a new one bound to the whole workspace
    when the config names none there."""
    slugs = (
        await session.scalars(
            select(Community.slug)
            .join(ChannelBinding, ChannelBinding.community_id == Community.id)
            .where(ChannelBinding.platform == PLATFORM, ChannelBinding.space == team_id)
            .distinct()
        )
    ).all()
    if slugs:
        return tuple(sorted(slugs)), False
    slug = workspace_slug(team_id)
    await session.execute(
        insert_ignoring_conflict(
            session,
            Community,
            {"slug": slug, "name": team_name or team_id, "timezone": "UTC"},
            ["slug"],
        )
    )
    community_id = (await session.execute(select(Community.id).filter_by(slug=slug))).scalar_one()
    await session.execute(
        insert_ignoring_conflict(
            session,
            ChannelBinding,
            {
                "platform": PLATFORM,
                "space": team_id,
                "channel": WHOLE_SPACE,
                "community_id": community_id,
            },
            ["platform", "space", "channel"],
        )
    )
    return (slug,), True


def workspace_slug(team_id: str) -> str:
    """The slug of a workspace's own community: `slack-` and its team id, lower case."""
    return "slack-" + re.sub(r"[^a-z0-9-]", "", team_id.lower())[:57]
