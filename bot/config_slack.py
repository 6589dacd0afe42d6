"""`[adapters.slack]`: how Hearth reaches Slack: one workspace with `bot_token`, or any
number through OAuth (`client_id`; tokens sealed with `token_key`). Lives in the core config.

Why secrets are checked on the *raw* TOML: `bot.config` expands `${VAR}` before pydantic
sees the values, so a validator cannot tell an inline token from an expanded one. The lead
wires `inline_secrets()` into `bot.config._inline_secrets`; the model itself checks that
what the chosen mode needs is present.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bot.config_secrets import written_inline
from knowledge.vocabulary import Role

SECRET_KEYS = ("signing_secret", "bot_token", "app_token", "client_secret", "token_key")
_FERNET_KEY = re.compile(r"[A-Za-z0-9_-]{43}=")

RoleName = Literal["member", "curator", "steward"]


class SlackConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    enabled: bool = False
    mode: Literal["http", "socket"] = Field(
        "http", description="http: Slack posts to us (Events API); socket: we dial Slack"
    )
    signing_secret: str = Field("", description='HTTP mode: "${SLACK_SIGNING_SECRET}"')
    bot_token: str = Field("", description='"${SLACK_BOT_TOKEN}" (xoxb-…)')
    app_token: str = Field("", description='Socket Mode: "${SLACK_APP_TOKEN}" (xapp-…)')
    host: str = Field("127.0.0.1", description="HTTP mode: the address to listen on")
    port: int = Field(3000, ge=0, le=65535, description="HTTP mode: 0 picks a free port")
    path: str = Field("/slack/events", pattern=r"^/", description="HTTP mode: request URL path")
    public_url: str = Field(
        "", description="HTTPS base URL Slack reaches us at (for `hearth slack manifest`)"
    )
    api_url: str = Field(
        "https://slack.com/api/", description="Web API base URL (tests point it at loopback)"
    )
    command_prefix: str = Field(
        "",
        pattern=r"^[a-z0-9-]{0,16}$",
        description='slash commands become /<prefix><name>, e.g. "hearth-" → /hearth-search',
    )
    app_name: str = Field("Hearth", min_length=1, max_length=35)
    owner_role: RoleName = Field("steward", description="role of workspace owners")
    admin_role: RoleName = Field("curator", description="role of workspace admins")
    curator_usergroup: str = Field("", description="user group id (S…) whose members curate")
    steward_usergroup: str = Field("", description="user group id (S…) whose members steward")
    role_cache_seconds: float = Field(300, ge=0, description="how long workspace roles are kept")
    rate_limit_retries: int = Field(3, ge=0, le=10, description="retries of a 429 (Retry-After)")
    client_id: str = Field(
        "",
        description='OAuth (many workspaces): "${SLACK_CLIENT_ID}"; empty: one bot_token',
    )
    client_secret: str = Field("", description='OAuth: "${SLACK_CLIENT_SECRET}"')
    token_key: str = Field(
        "",
        description="OAuth: Fernet key sealing the workspaces' tokens in the database, "
        '"${HEARTH_SLACK_TOKEN_KEY}" (`hearth slack token-key` makes one)',
    )
    install_path: str = Field("/slack/install", pattern=r"^/", description='OAuth: "Add to Slack"')
    redirect_path: str = Field(
        "/slack/oauth_redirect",
        pattern=r"^/",
        description="OAuth: where Slack sends installers back",
    )
    token_rotation: bool = Field(
        False, description="OAuth: the app has token rotation on (tokens refreshed before expiry)"
    )

    @property
    def oauth(self) -> bool:
        """Installed per workspace through OAuth (tokens in the store) rather than one bot_token."""
        return bool(self.client_id)

    @model_validator(mode="after")
    def _needs_for_mode(self) -> SlackConfig:
        if not self.enabled:
            return self
        if self.oauth:
            return self._needs_for_oauth()
        missing = [] if self.bot_token else ["bot_token"]
        if self.mode == "http" and not self.signing_secret:
            missing.append("signing_secret")
        if self.mode == "socket" and not self.app_token:
            missing.append("app_token")
        if missing:
            raise ValueError(
                f"Slack {self.mode} mode needs {', '.join(missing)} (from the environment, "
                'e.g. bot_token = "${SLACK_BOT_TOKEN}")'
            )
        return self

    def _needs_for_oauth(self) -> SlackConfig:
        if self.mode != "http":
            raise ValueError(
                'Slack OAuth (client_id set) needs mode = "http": Slack sends installers '
                "back to the web server"
            )
        missing = [k for k in ("client_secret", "signing_secret") if not getattr(self, k)]
        if missing:
            raise ValueError(
                f"Slack OAuth needs {', '.join(missing)} (from the environment, e.g. "
                'client_secret = "${SLACK_CLIENT_SECRET}")'
            )
        if not self.token_key:
            raise ValueError(
                "Slack OAuth needs token_key, the key that encrypts each workspace's token in "
                'the database: token_key = "${HEARTH_SLACK_TOKEN_KEY}" with a key made by '
                "`hearth slack token-key`"
            )
        if not _FERNET_KEY.fullmatch(self.token_key):
            raise ValueError(
                "token_key is not a Fernet key (44 characters of URL-safe base64, as "
                "`hearth slack token-key` prints)"
            )
        return self

    def role_for(self, *, owner: bool, admin: bool, groups: set[str]) -> Role:
        """The highest role the workspace grants this person (member when none)."""
        roles = [Role.MEMBER]
        if owner:
            roles.append(Role(self.owner_role))
        if admin or owner:
            roles.append(Role(self.admin_role))
        if self.curator_usergroup and self.curator_usergroup in groups:
            roles.append(Role.CURATOR)
        if self.steward_usergroup and self.steward_usergroup in groups:
            roles.append(Role.STEWARD)
        return max(roles, key=lambda role: role.rank)


def inline_secrets(section: dict[str, Any]) -> list[str]:
    """The secret keys of a raw `[adapters.slack]` table that are not `${VAR}` references."""
    return written_inline(section, SECRET_KEYS)
