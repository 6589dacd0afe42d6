"""The config sections of Hearth's features: assist, rituals, limits, relays and the web
server. Kept apart from bot/config.py, which reads the file and holds the top level."""

from __future__ import annotations

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
)


class Section(BaseModel):
    """A config table: unknown keys are errors (a typo never passes silently)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class AssistConfig(Section):
    base_url: str = Field(
        "",
        description="OpenAI-compatible endpoint, e.g. https://api.openai.com/v1 or a local "
        "Ollama at http://127.0.0.1:11434/v1; empty: offline drafts only",
    )
    api_key: str = Field("", description='from the environment: "${HEARTH_OPENAI_API_KEY}"')
    model: str = "gpt-4o-mini"
    semantic_search: bool = Field(
        True,
        description="blend full text with insights that mean the same in other words; "
        "false: full text only",
    )
    embedding_model: str = Field(
        "",
        description="the endpoint's embedding model, for semantic search of opted-in communities",
    )
    local_embedding_model: str = Field(
        "",
        description="a model2vec static model (folder or hub name), or packaged:wordllama, "
        "for semantic search of every community, on this machine; empty: the packaged "
        "MiniLM (also packaged:minilm)",
    )
    semantic_min_similarity: float = Field(
        0.15, ge=-1.0, le=1.0, description="cosine below which a neighbour is not a search hit"
    )
    timeout_seconds: float = Field(30.0, gt=0)
    max_retries: int = Field(3, ge=0, le=10)
    max_input_tokens: int = Field(6000, ge=500)


class RitualsConfig(Section):
    catch_up_grace_minutes: int = Field(
        360,
        ge=0,
        description="after downtime, a missed round still runs (once, marked late) within this",
    )
    reconcile_seconds: float = Field(
        5.0,
        gt=0,
        le=300,
        description="how often each instance re-reads the rituals others created or changed",
    )


class LimitsConfig(Section):
    model_commands_per_hour: int = Field(
        30, ge=0, description="/ask and /summarize per member per hour (together); 0: no limit"
    )
    invitations_per_day: int = Field(
        10, ge=0, description="/constellation invite codes per member per day; 0: no limit"
    )


class CatchUpRates(Section):
    """Requests per second catch-up may spend per platform, beside live traffic (0: unpaced).

    Defaults sit under each platform's documented limits for the reads catch-up makes, so
    live posts keep their share: Slack's conversations.replies is Tier 3 (50+ a minute),
    Discord allows 50 requests a second per bot, Synapse does not limit reads by default,
    and the console reads a local file."""

    console: float = Field(0.0, ge=0, description="the transcript is a local file: unpaced")
    discord: float = Field(5.0, ge=0, description="a tenth of Discord's global 50/s")
    slack: float = Field(0.8, ge=0, description="conversations.replies, Tier 3: ~50 a minute")
    matrix: float = Field(10.0, ge=0, description="room event and relation reads on Synapse")

    def for_platform(self, platform: str) -> float:
        rate = getattr(self, platform, 0.0)
        return float(rate) if isinstance(rate, int | float) else 0.0


class RelayConfig(Section):
    max_failures: int = Field(
        8, ge=1, description="failed tries before a relay target is parked and reported"
    )
    backoff_seconds: float = Field(2.0, gt=0, description="first retry delay; doubles per try")
    max_backoff_seconds: float = Field(600.0, gt=0, description="longest delay between tries")
    remote_retry_hours: float = Field(
        48.0,
        gt=0,
        description="another deployment that is down is retried this long (from the oldest "
        "waiting message) before its lane parks; max_failures must also be reached",
    )
    catch_up_days: int = Field(
        14, ge=0, description="after downtime, relayed threads active this recently are re-read"
    )
    catch_up_channel_messages: int = Field(
        1000,
        ge=0,
        description="after downtime, at most this many missed top-level messages per channel "
        "linked whole are relayed in one pass (the next start goes on from there)",
    )
    catch_up_requests_per_second: CatchUpRates = CatchUpRates()


class WebConfig(Section):
    listen: str = Field(
        "",
        description="host:port of the operations server (/healthz, /readyz, /metrics; Slack's "
        'Events endpoint mounts there too), e.g. "127.0.0.1:8080"; empty: off',
    )

    garden: bool = Field(
        False,
        description="serve the public knowledge garden (only `public` insights) on this server",
    )
    public_url: str = Field(
        "",
        description="the garden's address as visitors see it (canonical links, feeds, "
        'sitemap), e.g. "https://garden.example.org"; empty: taken from each request',
    )

    @field_validator("public_url")
    @classmethod
    def _absolute(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not value.startswith(("https://", "http://")):
            raise ValueError('expected an http(s) address such as "https://garden.example.org"')
        return value

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        if value:
            host, sep, port = value.rpartition(":")
            if not sep or not host or not port.isascii() or not port.isdigit():
                raise ValueError('expected host:port such as "127.0.0.1:8080"')
            if int(port) > 65535:
                raise ValueError(f"port {port} is above 65535")
        return value

    def address(self) -> tuple[str, int] | None:
        if not self.listen:
            return None
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)
