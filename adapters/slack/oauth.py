"""Installing Hearth to any workspace: slack-bolt's OAuth v2 flow, wired to Hearth's store.

Why bolt's own flow: the state cookie and its one-time consumption, `oauth.v2.access`,
the per-workspace `authorize` of every request and token rotation are all bolt's; Hearth
supplies the stores (sealed in its database), the pages and one Web API client, so tests
can point every call (the code exchange, `auth.test`, the refresh) at a loopback Slack.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import structlog
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.async_authorize import AsyncInstallationStoreAuthorize
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.config import SlackConfig
from adapters.slack.installations import (
    STATE_LIFETIME,
    HearthInstallations,
    HearthStates,
    InstallRecords,
    install_pages,
)
from adapters.slack.manifest import BOT_SCOPES
from adapters.slack.teams import ROTATE_MINUTES_BEFORE, InstalledTeams

log = structlog.get_logger(__name__)


class Authorize(AsyncInstallationStoreAuthorize):
    """bolt's per-workspace authorize, saying in Hearth's log (once per absence) when a
    workspace with no installation is turned away: a revoked token, or an uninstall
    whose last events were still on the way, would otherwise be dropped silently."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.turned_away: set[str] = set()

    async def __call__(self, **kwargs: Any) -> AuthorizeResult | None:
        result = await super().__call__(**kwargs)
        team = str(kwargs.get("team_id") or "")
        if result is not None:
            self.turned_away.discard(team)
        elif team not in self.turned_away:
            self.turned_away.add(team)
            log.warning(
                "slack.workspace_not_installed",
                team=team,
                effect="its requests are not handled (commands are told so) until a "
                "workspace admin adds Hearth back",
            )
        return result


@dataclass(frozen=True)
class OAuth:
    settings: AsyncOAuthSettings
    authorize: Authorize
    installations: HearthInstallations
    teams: InstalledTeams


def redirect_url(config: SlackConfig) -> str | None:
    """Where Slack sends installers back (the app's Redirect URL), when the address is known."""
    if not config.public_url:
        return None
    return config.public_url.rstrip("/") + config.redirect_path


def build_oauth(
    config: SlackConfig, records: InstallRecords | None, client: AsyncWebClient
) -> OAuth:
    if records is None:
        raise ValueError("Slack OAuth needs the store of installed workspaces")
    logger = logging.getLogger("slack_bolt.hearth")
    installations = HearthInstallations(records)
    settings = AsyncOAuthSettings(
        client_id=config.client_id,
        client_secret=config.client_secret,
        scopes=list(BOT_SCOPES),
        user_scopes=[],
        redirect_uri=redirect_url(config),
        install_path=config.install_path,
        redirect_uri_path=config.redirect_path,
        callback_options=install_pages(installations, config.install_path),
        installation_store=installations,
        installation_store_bot_only=True,
        token_rotation_expiration_minutes=ROTATE_MINUTES_BEFORE,
        state_store=HearthStates(records),
        state_expiration_seconds=int(STATE_LIFETIME.total_seconds()),
        logger=logger,
    )
    authorize = Authorize(
        logger=logger,
        installation_store=installations,
        client_id=config.client_id,
        client_secret=config.client_secret,
        token_rotation_expiration_minutes=ROTATE_MINUTES_BEFORE,
        bot_only=True,
        client=client,  # the token refresh goes where every other call goes
    )
    settings.authorize = authorize
    return OAuth(settings, authorize, installations, InstalledTeams(installations, config, client))
