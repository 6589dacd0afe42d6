"""`[adapters.matrix]`: how Hearth reaches one Matrix account (lives in the core config).

Why the secrets must be `${VAR}` references: like Slack and Discord, tokens never sit in
the file. `bot.config` expands references before pydantic sees the values, so the lead
wires `inline_secrets()` (which reads the raw TOML table) into `bot.config._inline_secrets`.
Why roles come from power levels: a Matrix room has no roles, only numbers; moderators
(50) and admins (100) are the people a community already trusts to curate and steward.
Why a watchdog: a long poll can hang on a connection that is open but silent (a proxy or
load balancer that stopped forwarding), and nothing fails. Every
`watchdog_interval_seconds` the adapter writes a fresh nonce into the bot's own account
data (`org.hearth.probe`), which the homeserver must send back in the next sync; if no
sync brings it within `watchdog_timeout_seconds`, the adapter logs `matrix.stalled` and
restarts the long poll from the saved token (nothing is lost or handled twice).
`watchdog_interval_seconds = 0` turns the probe off.
Why the keys live in `store_path`, not the database: they are the bot's device secrets,
and the database is what `/export` and backups hand around; the store is nio's own
SQLite file per device (its secrets encrypted with `store_passphrase`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bot.config_secrets import written_inline
from knowledge.vocabulary import Role

SECRET_KEYS = ("access_token", "password", "store_passphrase")
_USER_ID = r"^@[^:\s]+:[^\s]+$"
_DEVICE = r"^@[^:\s]+:[^\s/]+/[^\s/]+$"


class MatrixConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    enabled: bool = False
    homeserver: str = Field(
        "", pattern=r"^(https?://\S+)?$", description='client API base URL, e.g. "https://…"'
    )
    user_id: str = Field("", description='the bot account, e.g. "@hearth:example.org"')
    access_token: str = Field("", description='"${HEARTH_MATRIX_TOKEN}" (or use password)')
    password: str = Field("", description='"${HEARTH_MATRIX_PASSWORD}": log in at start-up')
    device_id: str = Field("", description="keep one device across restarts (empty: server's)")
    command_prefix: str = Field("!", min_length=1, max_length=8, pattern=r"^\S+$")
    allowed_homeservers: list[str] = Field(
        default_factory=list,
        description="accept invites from users of these servers (empty: the bot's own server)",
    )
    allowed_rooms: list[str] = Field(
        default_factory=list, description="room ids or aliases always joined when invited"
    )
    curator_power_level: int = Field(50, description="power level that makes a curator")
    steward_power_level: int = Field(100, description="power level that makes a steward")
    sync_timeout_seconds: float = Field(30, gt=0, le=300, description="long-poll duration")
    max_backoff_seconds: float = Field(60, gt=0, description="cap on reconnect back-off")
    watchdog_interval_seconds: float = Field(
        60, ge=0, description="how often sync liveness is probed (0: never)"
    )
    watchdog_timeout_seconds: float = Field(
        90, gt=0, description="how long a probe may take to come back before a restart"
    )

    encryption: bool = Field(
        True,
        description="read and answer in encrypted rooms and DMs (needs `pip install "
        "hearth[e2e]`; without it such rooms get a notice)",
    )
    store_path: Path = Field(
        Path("matrix-store"),
        description="directory of the end-to-end keys (one file per device; not in the database)",
    )
    store_passphrase: str = Field(
        "", description='"${HEARTH_MATRIX_STORE_KEY}": encrypts the keys in the store'
    )
    trust: Literal["tofu", "listed"] = Field(
        "tofu",
        description="tofu: every member device gets room keys, its keys pinned when first "
        "seen; listed: only the devices in trusted_devices",
    )
    trusted_devices: list[str] = Field(
        default_factory=list, description='with trust = "listed": "@user:server/DEVICEID" entries'
    )

    @model_validator(mode="after")
    def _complete_when_enabled(self) -> MatrixConfig:
        if self.steward_power_level < self.curator_power_level:
            raise ValueError("steward_power_level must not be below curator_power_level")
        bad = [d for d in self.trusted_devices if not re.match(_DEVICE, d)]
        if bad:
            raise ValueError(f"trusted_devices entries are @user:server/DEVICEID, not {bad[0]!r}")
        if not self.enabled:
            return self
        missing = [name for name in ("homeserver", "user_id") if not getattr(self, name)]
        if not self.access_token and not self.password:
            missing.append("access_token or password")
        if missing:
            raise ValueError(
                f"an enabled Matrix adapter needs {', '.join(missing)} (secrets from the "
                'environment, e.g. access_token = "${HEARTH_MATRIX_TOKEN}")'
            )
        if not re.match(_USER_ID, self.user_id):
            raise ValueError(f"user_id {self.user_id!r} is not a Matrix id like @bot:server")
        return self

    @property
    def server_name(self) -> str:
        """The bot's own homeserver name: the `space` of every Matrix channel binding."""
        return self.user_id.split(":", 1)[1] if ":" in self.user_id else ""

    def role_for(self, power_level: int) -> Role:
        if power_level >= self.steward_power_level:
            return Role.STEWARD
        if power_level >= self.curator_power_level:
            return Role.CURATOR
        return Role.MEMBER

    def may_join(self, room_id: str, inviter: str, aliases: list[str] | None = None) -> bool:
        """Whether an invite is accepted: a listed room, or an inviter on an allowed server."""
        if room_id in self.allowed_rooms or any(a in self.allowed_rooms for a in aliases or []):
            return True
        servers = self.allowed_homeservers or [self.server_name]
        return inviter.partition(":")[2] in servers


def inline_secrets(section: dict[str, Any]) -> list[str]:
    """The secret keys of a raw `[adapters.matrix]` table that are not `${VAR}` references."""
    return written_inline(section, SECRET_KEYS)
