"""Which token speaks in which workspace: one bot token, or one per installed workspace.

Why a lookup per call rather than one client: with OAuth every workspace has its own bot
token, bot user and bot id, and a relay or a ritual posts to whichever workspace its
channel is in (`ChannelRef.space` is the team id). A token close to expiry is refreshed
first (Slack's token rotation, slack_sdk's AsyncTokenRotator, which compares Slack's
expiry with the wall clock itself) and the new one saved; a workspace's entry is
read again every minute, so a token refreshed, removed or reinstalled through another
instance is followed within that time.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Protocol

import structlog
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.config import SlackConfig
from adapters.slack.webapi import call, data, make_client
from adapters.slack.workspace import Workspace
from bot.port import Forbidden, Transient

log = structlog.get_logger(__name__)

ROTATE_MINUTES_BEFORE = 120  # bolt's default: refresh a token two hours before it expires
RECHECK_SECONDS = 60.0  # the store is read again this often (rotation, another instance's change)


@dataclass
class Team:
    """One workspace as Hearth's bot sees it."""

    id: str
    bot_user_id: str
    bot_id: str
    client: AsyncWebClient
    workspace: Workspace
    url: str = "https://slack.com/"
    recheck_at: float = 0.0  # monotonic: when to read the store again (OAuth)


class Teams(Protocol):
    async def get(self, team_id: str) -> Team:
        """The workspace's session; Forbidden when Hearth is not installed there."""
        ...

    def forget(self, team_id: str) -> None: ...


class SingleTeam:
    """One bot token (`bot_token`): every channel is in its workspace."""

    def __init__(self, client: AsyncWebClient, config: SlackConfig) -> None:
        self.team = Team("", "", "", client, Workspace(client, config))

    async def identify(self) -> Team:
        """`auth.test`: which workspace and bot user the token belongs to."""
        body = data(await call("auth.test", self.team.client.auth_test()))
        url = str(body.get("url") or self.team.url)
        self.team.id = str(body.get("team_id") or "")
        self.team.bot_user_id = str(body.get("user_id") or "")
        self.team.bot_id = str(body.get("bot_id") or "")
        self.team.url = url if url.endswith("/") else url + "/"
        return self.team

    async def get(self, team_id: str) -> Team:
        return self.team

    def forget(self, team_id: str) -> None:
        return None


class InstalledTeams:
    """Workspaces installed through OAuth: their bots come from the installation store."""

    def __init__(
        self, store: AsyncInstallationStore, config: SlackConfig, oauth_client: AsyncWebClient
    ) -> None:
        self._store = store
        self._config = config
        self._teams: dict[str, Team] = {}
        self._lock = asyncio.Lock()
        self._rotator = AsyncTokenRotator(
            client_id=config.client_id, client_secret=config.client_secret, client=oauth_client
        )

    async def get(self, team_id: str) -> Team:
        known = self._teams.get(team_id)
        if known is not None and time.monotonic() < known.recheck_at:
            return known
        async with self._lock:  # one refresh at a time: a refresh token works once
            return await self._load(team_id)

    async def _load(self, team_id: str) -> Team:
        known = self._teams.get(team_id)
        if known is not None and time.monotonic() < known.recheck_at:
            return known  # refreshed while this call waited for the lock
        bot = await self._store.async_find_bot(enterprise_id=None, team_id=team_id)
        if bot is None or not bot.bot_token:
            self._teams.pop(team_id, None)
            raise Forbidden(f"Hearth is not installed in the Slack workspace {team_id}")
        if bot.bot_refresh_token:
            try:
                rotated = await self._rotator.perform_bot_token_rotation(
                    bot=bot, minutes_before_expiration=ROTATE_MINUTES_BEFORE
                )
            except Exception as exc:  # SlackTokenRotationError, or Slack out of reach
                log.warning("slack.token_rotation_failed", team=team_id, error=repr(exc))
                raise Transient(
                    f"the token of Slack workspace {team_id} could not be refreshed"
                ) from exc
            if rotated is not None:
                await self._store.async_save_bot(rotated)
                log.info("slack.token_rotated", team=team_id)
                bot = rotated
        token = str(bot.bot_token)
        recheck = time.monotonic() + RECHECK_SECONDS
        if known is not None:
            known.client.token = token
            known.bot_user_id, known.bot_id = str(bot.bot_user_id or ""), str(bot.bot_id or "")
            known.recheck_at = recheck
            return known
        config = self._config
        client = make_client(token, config.api_url, config.rate_limit_retries)
        team = Team(
            team_id,
            str(bot.bot_user_id or ""),
            str(bot.bot_id or ""),
            client,
            Workspace(client, config),
            recheck_at=recheck,
        )
        self._teams[team_id] = team
        return team

    def forget(self, team_id: str) -> None:
        self._teams.pop(team_id, None)
