"""Configuration: a TOML file read into pydantic models, secrets only from the environment.

Every error names the file, the key path and what was expected, and Hearth refuses to
start rather than run half-configured.
"""

from __future__ import annotations

import os
import re
import tomllib
import zoneinfo
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.config_discord import DiscordConfig
from bot.config_features import (
    AssistConfig,
    LimitsConfig,
    RelayConfig,
    RitualsConfig,
    Section,
    WebConfig,
)
from bot.config_federation import FederationConfig
from bot.config_matrix import MatrixConfig
from bot.config_matrix import inline_secrets as matrix_inline_secrets
from bot.config_secrets import ENV_REF, is_env_reference
from bot.config_slack import SlackConfig, inline_secrets

PLATFORMS = ("console", "discord", "slack", "matrix")


class ConfigError(Exception):
    """The configuration cannot be used; `str()` is the full message for stderr."""


class HearthSettings(Section):
    database_url: str = Field(
        "sqlite:///hearth.db",
        description="SQLite file (embedded default) or postgresql://; "
        "a URL with a password must come from the environment",
    )
    auto_migrate: bool = Field(True, description="upgrade the database schema at start-up")
    export_dir: Path = Field(Path("exports"), description="where /export writes its files")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "WARNING", description="INFO suits a server; WARNING keeps the console quiet"
    )
    log_format: Literal["console", "json"] = "console"

    @field_validator("database_url")
    @classmethod
    def _no_inline_password(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError(
                "expected a URL like sqlite:///hearth.db or postgresql://host/db"
            ) from None
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            raise ValueError("expected a sqlite:/// or postgresql:// URL")
        return value


class ChannelConfig(Section):
    platform: Literal["console", "discord", "slack", "matrix"]
    space: str = Field(
        description="guild id, workspace id, the bot's Matrix server name, or 'local' for console"
    )
    channel: str

    @model_validator(mode="after")
    def _matrix_names(self) -> ChannelConfig:
        if self.platform != "matrix":
            return self
        if "://" in self.space or "/" in self.space or self.space.startswith("@"):
            raise ValueError(
                f"space {self.space!r}: for Matrix write the bot's server name, the part after "
                '":" in its user id (e.g. "example.org"), not a URL or a user id'
            )
        if not self.channel.startswith(("!", "#")):
            raise ValueError(
                f"channel {self.channel!r}: for Matrix write the room id (!…, in the room's "
                "settings under Advanced) or its alias (#name:server)"
            )
        return self


class CommunityConfig(Section):
    slug: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(
        "", max_length=500, description="one or two sentences shown on the public garden"
    )
    timezone: str = "UTC"
    channels: list[ChannelConfig] = Field(default_factory=list)
    stewards: list[str] = Field(default_factory=list, description='"platform:user-id" entries')
    curators: list[str] = Field(default_factory=list, description='"platform:user-id" entries')
    assist: bool = Field(False, description="send this community's text to the assist endpoint")
    default_visibility: Literal["community", "constellation", "public"] = Field(
        "community", description="who may find a new insight (see /insight share)"
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError("expected an IANA time zone such as Europe/Berlin or UTC") from None
        return value

    @field_validator("stewards", "curators")
    @classmethod
    def _identity_refs(cls, value: list[str]) -> list[str]:
        for entry in value:
            platform, _, user = entry.partition(":")
            if platform not in PLATFORMS or not user:
                raise ValueError(
                    f'{entry!r}: expected "platform:user-id" with platform one of {PLATFORMS}'
                )
        return value


class ConsoleConfig(Section):
    enabled: bool = True
    user: str = Field("you", description="who you are when the console starts (:as to switch)")
    space: str = "local"
    channel: str = "general"
    transcript: Path = Field(
        Path("hearth-console.jsonl"), description="the console's own message history"
    )


class AdaptersConfig(Section):
    console: ConsoleConfig = ConsoleConfig()
    slack: SlackConfig = SlackConfig()
    discord: DiscordConfig = DiscordConfig()
    matrix: MatrixConfig = MatrixConfig()


def _default_communities() -> list[CommunityConfig]:
    return [
        CommunityConfig(
            slug="default",
            name="Our community",
            channels=[ChannelConfig(platform="console", space="local", channel="general")],
            stewards=["console:you"],
        )
    ]


class Config(Section):
    hearth: HearthSettings = HearthSettings()
    communities: list[CommunityConfig] = Field(default_factory=_default_communities)
    rituals: RitualsConfig = RitualsConfig()
    relay: RelayConfig = RelayConfig()
    limits: LimitsConfig = LimitsConfig()
    assist: AssistConfig = AssistConfig()
    adapters: AdaptersConfig = AdaptersConfig()
    web: WebConfig = WebConfig()
    federation: FederationConfig = FederationConfig()

    @field_validator("communities")
    @classmethod
    def _unique(cls, value: list[CommunityConfig]) -> list[CommunityConfig]:
        slugs = [c.slug for c in value]
        if len(set(slugs)) != len(slugs):
            raise ValueError("each community needs its own slug")
        channels = [(ch.platform, ch.space, ch.channel) for c in value for ch in c.channels]
        if len(set(channels)) != len(channels):
            raise ValueError("a channel can belong to only one community")
        return value

    @model_validator(mode="after")
    def _federation_needs_web(self) -> Config:
        if self.federation.enabled and not self.web.listen:
            raise ValueError("federation.enabled needs [web] listen (the actors are served there)")
        if self.federation.enabled and not self.federation.key_passphrase:
            raise ValueError(
                "federation.enabled needs federation.key_passphrase (it encrypts the signing "
                'keys): key_passphrase = "${HEARTH_FEDERATION_KEY_PASSPHRASE}"'
            )
        return self


def _expand(value: Any, path: str, source: str) -> Any:
    """Replace ${VAR} with the environment's value; a missing variable is an error."""
    if isinstance(value, dict):
        return {k: _expand(v, f"{path}.{k}" if path else k, source) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, f"{path}[{i}]", source) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def resolve(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise ConfigError(f"{source}: {path}: environment variable {name} is not set")
        return os.environ[name]

    return ENV_REF.sub(resolve, value)


def _inline_secrets(raw: dict[str, Any], source: str) -> None:
    token = raw.get("adapters", {}).get("discord", {}).get("token")
    if isinstance(token, str) and token and not is_env_reference(token):
        raise ConfigError(
            f"{source}: adapters.discord.token: secrets come from the environment: write "
            'token = "${HEARTH_DISCORD_TOKEN}" and set that variable'
        )
    matrix = raw.get("adapters", {}).get("matrix", {})
    for key in matrix_inline_secrets(matrix if isinstance(matrix, dict) else {}):
        raise ConfigError(
            f"{source}: adapters.matrix.{key}: secrets come from the environment: write "
            f'{key} = "${{HEARTH_MATRIX_{key.upper()}}}" and set that variable'
        )
    slack = raw.get("adapters", {}).get("slack", {})
    for key in inline_secrets(slack if isinstance(slack, dict) else {}):
        raise ConfigError(
            f"{source}: adapters.slack.{key}: secrets come from the environment: write "
            f'{key} = "${{SLACK_{key.upper()}}}" and set that variable'
        )
    passphrase = raw.get("federation", {}).get("key_passphrase")
    if isinstance(passphrase, str) and passphrase and not is_env_reference(passphrase):
        raise ConfigError(
            f"{source}: federation.key_passphrase: secrets come from the environment: write "
            'key_passphrase = "${HEARTH_FEDERATION_KEY_PASSPHRASE}" and set that variable'
        )
    key = raw.get("assist", {}).get("api_key")
    if isinstance(key, str) and key and not is_env_reference(key):
        raise ConfigError(
            f"{source}: assist.api_key: secrets come from the environment: write "
            'api_key = "${HEARTH_OPENAI_API_KEY}" and set that variable'
        )
    url = raw.get("hearth", {}).get("database_url")
    if isinstance(url, str) and not ENV_REF.search(url):
        try:
            password = make_url(url).password
        except ArgumentError:
            return
        if password:
            raise ConfigError(
                f"{source}: hearth.database_url: contains a password; secrets come from the "
                'environment: write database_url = "${HEARTH_DATABASE_URL}" and set that variable'
            )


def _describe(error: dict[str, Any], source: str) -> str:
    path = ".".join(str(p) for p in error["loc"])
    if error["type"] == "extra_forbidden":
        return f"{source}: {path}: unknown key (see config.example.toml for the keys there are)"
    message = error["msg"].removeprefix("Value error, ")
    shown = error.get("input")
    got = f" (got {shown!r})" if isinstance(shown, str | int | float | bool) else ""
    return f"{source}: {path}: {message}{got}"


STORE_SECTIONS = ("hearth", "communities", "rituals", "relay")


def parse_config(text: str, source: str = "<config>", *, store_only: bool = False) -> Config:
    """`store_only`: just what reading the database needs (`hearth search`, exports), so
    adapters' and the assist endpoint's secrets need not be in this shell's environment."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    if store_only:
        raw = {key: value for key, value in raw.items() if key in STORE_SECTIONS}
    _inline_secrets(raw, source)
    try:
        return Config.model_validate(_expand(raw, "", source))
    except ValidationError as exc:
        lines = [_describe(dict(e), source) for e in exc.errors()]
        raise ConfigError("\n".join(lines)) from None


def load_config(path: Path | None, *, store_only: bool = False) -> Config:
    """The file's config, or the embedded default when no file is given."""
    if path is None:
        return Config()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file (create one with `hearth init`)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read: {exc}") from None
    return parse_config(text, str(path), store_only=store_only)
