"""One place where tests and benches write Hearth's config: communities, their channels,
and the sections a test adds (adapters, relay, limits...).

Why one builder: a dozen hand-written TOML strings drifted apart (a field renamed in one,
a community missing its timezone in another); a test now says only what is particular
to it, and the text it produces is the TOML an operator would write.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.config import Config, parse_config


@dataclass(frozen=True)
class Channel:
    platform: str
    space: str
    channel: str


@dataclass(frozen=True)
class Community:
    slug: str
    name: str
    channels: tuple[Channel, ...]
    stewards: tuple[str, ...] = ()
    curators: tuple[str, ...] = ()
    timezone: str | None = None
    extra: str = ""  # more keys of this [[communities]] table, as TOML lines


# The console communities most tests run: the guild in #general (Steve stewards, Cora
# curates, in Berlin's time), the forge in #hall (Fran stewards), the mill in #yard (Milo),
# and one more in #other with no stewards.
GUILD = Community(
    "guild",
    "The Guild",
    (Channel("console", "local", "general"),),
    ("console:steve",),
    ("console:cora",),
    "Europe/Berlin",
)
FORGE = Community("forge", "The Forge", (Channel("console", "local", "hall"),), ("console:fran",))
MILL = Community("mill", "The Mill", (Channel("console", "local", "yard"),), ("console:milo",))
OTHER = Community("other", "Other", (Channel("console", "local", "other"),))  # no assist


def _quoted(values: Sequence[str]) -> str:
    return "[" + ", ".join(f'"{v}"' for v in values) + "]"


def _community(community: Community) -> str:
    lines = ["[[communities]]", f'slug = "{community.slug}"', f'name = "{community.name}"']
    if community.timezone is not None:
        lines.append(f'timezone = "{community.timezone}"')
    if community.stewards:
        lines.append(f"stewards = {_quoted(community.stewards)}")
    if community.curators:
        lines.append(f"curators = {_quoted(community.curators)}")
    if community.extra:
        lines.append(community.extra.strip("\n"))
    for channel in community.channels:
        lines += [
            "[[communities.channels]]",
            f'platform = "{channel.platform}"',
            f'space = "{channel.space}"',
            f'channel = "{channel.channel}"',
        ]
    return "\n".join(lines)


@dataclass(frozen=True)
class ConfigText:
    """The TOML of one Hearth: `hearth` holds more [hearth] keys, `extra` more tables."""

    database_url: str
    directory: Path
    communities: tuple[Community, ...] = (GUILD,)
    console_user: str | None = "alice"  # None: no console adapter
    transcript: Path | None = None  # default: <directory>/console.jsonl
    hearth: str = ""
    extra: str = ""

    def render(self) -> str:
        parts = [
            "[hearth]",
            f'database_url = "{self.database_url}"',
            f'export_dir = "{self.directory / "exports"}"',
        ]
        if self.hearth:
            parts.append(self.hearth.strip("\n"))
        parts.append("")
        parts += [_community(c) + "\n" for c in self.communities]
        if self.console_user is not None:
            transcript = self.transcript or self.directory / "console.jsonl"
            parts += [
                "[adapters.console]",
                f'user = "{self.console_user}"',
                f'transcript = "{transcript}"',
            ]
        if self.extra:
            parts.append(self.extra)
        return "\n".join(parts) + "\n"


def build_config(
    database_url: str,
    directory: Path,
    *communities: Community,
    console_user: str | None = "alice",
    transcript: Path | None = None,
    hearth: str = "",
    extra: str = "",
) -> Config:
    """The parsed config, as `hearth run` would load it (default: the guild alone)."""
    text = ConfigText(
        database_url, directory, communities or (GUILD,), console_user, transcript, hearth, extra
    )
    return parse_config(text.render(), "test-config")


def write_config(
    path: Path,
    database_url: str,
    *communities: Community,
    console_user: str | None = "alice",
    transcript: Path | None = None,
    hearth: str = "",
    extra: str = "",
) -> Path:
    """The config as a file beside its data (for a `hearth` child process)."""
    text = ConfigText(
        database_url, path.parent, communities or (GUILD,), console_user, transcript, hearth, extra
    )
    path.write_text(text.render(), encoding="utf-8")
    return path
