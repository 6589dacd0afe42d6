"""slack-bolt's OAuth stores over Hearth's database, and the install flow's pages.

Why our own stores: slack_sdk's SQLAlchemy stores keep tokens in clear text and create
their own tables; Hearth's store (knowledge/slack_installs.py, reached through the
`InstallRecords` protocol so this adapter imports nothing from knowledge/) seals each
workspace's bot installation with a Fernet key and lives under Alembic. Only the bot is
kept (`installation_store_bot_only`): Hearth never acts as the installing person.
"""

from __future__ import annotations

import html
import logging
import secrets
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog
from slack_bolt.oauth.async_callback_options import (
    AsyncCallbackOptions,
    AsyncFailureArgs,
    AsyncSuccessArgs,
)
from slack_bolt.response import BoltResponse
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.installation_store.models.bot import Bot
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore

log = structlog.get_logger(__name__)

STATE_LIFETIME = timedelta(minutes=10)


class InstallRecords(Protocol):
    """The store of installed workspaces (knowledge.slack_installs.SlackInstalls)."""

    async def save(
        self, team_id: str, team_name: str, payload: dict[str, Any], enterprise_id: str = ""
    ) -> Any: ...

    async def refresh(
        self, team_id: str, payload: dict[str, Any], enterprise_id: str = ""
    ) -> bool: ...

    async def find(self, team_id: str, enterprise_id: str = "") -> dict[str, Any] | None: ...

    async def remove(self, team_id: str, enterprise_id: str = "") -> int: ...

    async def issue_state(self, state: str, lifetime: timedelta) -> None: ...

    async def consume_state(self, state: str) -> bool: ...


class HearthInstallations(AsyncInstallationStore):
    """Bolt's installation store: a workspace's bot, sealed in Hearth's database."""

    def __init__(self, records: InstallRecords) -> None:
        self._records = records
        self.installed: dict[str, Any] = {}  # team → what its last install did (the page)

    @property
    def logger(self) -> logging.Logger:
        return logging.getLogger(__name__)

    async def async_save(self, installation: Installation) -> None:
        """An install (the OAuth redirect): the workspace joins, or comes back."""
        bot = installation.to_bot()
        team = bot.team_id or ""
        self.installed[team] = await self._records.save(
            team, bot.team_name or "", _payload(bot), bot.enterprise_id or ""
        )

    async def async_save_bot(self, bot: Bot) -> None:
        """A refreshed token (rotation): kept only while the workspace is installed, so a
        refresh racing an uninstall never brings the workspace back."""
        await self._records.refresh(bot.team_id or "", _payload(bot), bot.enterprise_id or "")

    async def async_find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        payload = await self._records.find(team_id or "", enterprise_id or "")
        return Bot(**payload) if payload is not None else None

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        return None  # bot only: Hearth keeps no installer's user token

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self._records.remove(team_id or "", enterprise_id or "")

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        if user_id is None:
            await self._records.remove(team_id or "", enterprise_id or "")

    async def async_delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self._records.remove(team_id or "", enterprise_id or "")


def _payload(bot: Bot) -> dict[str, Any]:
    """The bot as Bot(**payload) reads it back: epoch seconds, the token's expiry whole."""
    return {
        key: _epoch(key, value) if isinstance(value, datetime) else value
        for key, value in bot.to_dict_for_copying().items()
    }


def _epoch(key: str, value: datetime) -> float | int:
    return int(value.timestamp()) if key == "bot_token_expires_at" else value.timestamp()


class HearthStates(AsyncOAuthStateStore):
    """Bolt's state store: a random state per install, consumed once on any instance."""

    def __init__(self, records: InstallRecords) -> None:
        self._records = records

    @property
    def logger(self) -> logging.Logger:
        return logging.getLogger(__name__)

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        state = secrets.token_urlsafe(32)
        await self._records.issue_state(state, STATE_LIFETIME)
        return state

    async def async_consume(self, state: str) -> bool:
        return bool(state) and await self._records.consume_state(state)


FAILURES = {
    "access_denied": "The installation was cancelled in Slack, so nothing was installed.",
    "invalid_browser": (
        "This browser did not start the installation (its install cookie is missing or "
        "different). Start again from the install page in this browser."
    ),
    "invalid_state": (
        "This installation link has expired or was already used. Start again from the install page."
    ),
    "missing_code": "Slack sent no installation code back. Start again from the install page.",
    "invalid_code": (
        "Slack did not accept this installation code (it may have been used already). "
        "Start again from the install page."
    ),
    "storage_error": "Hearth could not save the installation. Try again in a moment.",
}


def install_pages(installations: HearthInstallations, install_path: str) -> AsyncCallbackOptions:
    """The pages an installer sees after Slack sends them back: one sentence each."""

    async def success(args: AsyncSuccessArgs) -> BoltResponse:
        team = args.installation.team_id or ""
        installed = installations.installed.get(team)
        slugs = ", ".join(getattr(installed, "community_slugs", ()) or ())
        name = args.installation.team_name or team
        where = f" Its community here: {slugs}." if slugs else ""
        log.info("slack.install_succeeded", team=team)
        return _page(200, "Hearth is installed", f"Hearth is now installed in {name}.{where}")

    async def failure(args: AsyncFailureArgs) -> BoltResponse:
        reason = args.reason
        sentence = FAILURES.get(reason, f"The installation did not complete ({reason}).")
        log.info(
            "slack.install_failed", reason=reason, error=repr(args.error) if args.error else None
        )
        status = 200 if reason == "access_denied" else args.suggested_status_code
        return _page(status, "Hearth was not installed", sentence, install_path)

    return AsyncCallbackOptions(success=success, failure=failure)


def _page(status: int, title: str, sentence: str, again: str | None = None) -> BoltResponse:
    link = f'<p><a href="{html.escape(again)}">Add Hearth to Slack</a></p>' if again else ""
    body = (
        "<!DOCTYPE html><html lang=en><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title><h1>{html.escape(title)}</h1>"
        f"<p>{html.escape(sentence)}</p>{link}</html>"
    )
    return BoltResponse(
        status=status,
        body=body,
        headers={
            "Content-Type": "text/html; charset=utf-8",
            "Content-Security-Policy": "default-src 'none'",
        },
    )
