"""The [federation] section: ActivityPub between deployments and with the fediverse."""

from __future__ import annotations

from pydantic import Field, field_validator

from bot.config_features import Section


class FederationConfig(Section):
    enabled: bool = Field(
        False,
        description="serve each publishing community as an ActivityPub Group actor on the "
        "[web] server (needs [web] listen; `pip install 'hearth[federation]'`)",
    )
    key_passphrase: str = Field(
        "",
        description="encrypts the communities' private signing keys in the database; from "
        'the environment: "${HEARTH_FEDERATION_KEY_PASSPHRASE}"',
    )
    allow_loopback_for_tests: bool = Field(
        False,
        description="TESTS ONLY: fetch and deliver to loopback/private addresses over plain "
        "http (otherwise refused: SSRF)",
    )
    blocked_hosts: list[str] = Field(
        default_factory=list,
        description="remote hosts (and their subdomains) refused in both directions",
    )
    max_body_bytes: int = Field(
        262_144, ge=1024, le=10_485_760, description="largest inbox POST or fetched document"
    )
    requests_per_minute_per_host: int = Field(
        120, ge=1, description="inbox POSTs accepted per remote host per minute"
    )
    signature_window_seconds: int = Field(
        300, ge=30, le=3600, description="a signed request's Date may be this far off (replays)"
    )
    key_overlap_hours: float = Field(
        48.0,
        ge=0,
        le=720,
        description="after `hearth federation rotate-key`, the previous key still signs "
        "for servers that answer 401 (they cached the old key) for this long, then is deleted",
    )
    fetch_timeout_seconds: float = Field(10.0, gt=0, le=120)
    poll_seconds: float = Field(
        5.0, gt=0, le=300, description="how often new or withdrawn public insights are looked for"
    )

    @field_validator("blocked_hosts")
    @classmethod
    def _hosts(cls, value: list[str]) -> list[str]:
        return [host.strip().lower().rstrip(".") for host in value if host.strip()]
