"""How a command is declared: once, with typed options, for every adapter to register.

Text-speaking platforms (console, Matrix, Slack) parse with `bot.commands.parse`;
Discord maps the same options onto application-command options.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from bot.context import CommandContext
from knowledge.vocabulary import Role


class OptionType(enum.StrEnum):
    TEXT = "text"  # the rest of the line
    WORD = "word"
    INTEGER = "integer"
    DATE = "date"
    MESSAGE = "message"  # a message id or permalink


@dataclass(frozen=True)
class Option:
    name: str
    type: OptionType
    help: str
    required: bool = False
    keyword: bool = False  # written `name:value` in text commands
    repeated: bool = False
    choices: tuple[str, ...] = ()
    maximum: int | None = 2**31 - 1  # an INTEGER's largest (ids are 32-bit); None: any size

    def usage(self) -> str:
        shown = f"{self.name}:<{self.type.value}>" if self.keyword else f"<{self.name}>"
        if self.repeated:
            shown += "…"
        return shown if self.required else f"[{shown}]"


@dataclass(frozen=True)
class Reply:
    """`ephemeral`: shown only to the asker where the platform can (else in the channel).
    `private`: must never be seen by anyone else (codes, links, previews of their data);
    platforms without ephemeral replies send it by DM (Matrix)."""

    text: str
    ephemeral: bool = False
    private: bool = False
    # a pick list the platform may show as a menu: (custom id, ((value, label), …))
    choices: tuple[str, tuple[tuple[str, str], ...]] | None = None


@dataclass(frozen=True)
class Args:
    values: Mapping[str, Any] = field(default_factory=dict)

    def text(self, name: str) -> str:
        value = self.values.get(name)
        return value if isinstance(value, str) else ""

    def integer(self, name: str) -> int | None:
        value = self.values.get(name)
        return value if isinstance(value, int) else None

    def date(self, name: str) -> date | None:
        value = self.values.get(name)
        return value if isinstance(value, date) else None

    def many(self, name: str) -> tuple[str, ...]:
        value = self.values.get(name, ())
        return (value,) if isinstance(value, str) else tuple(value)


Handler = Callable[[Any, CommandContext, Args], Awaitable[Reply]]
"""A method of a command family, declared unbound (`SearchCommands.search`): the family
instance built in `bot.app` with its dependencies is `self` (see bot.commands.families)."""

BoundHandler = Callable[[CommandContext, Args], Awaitable[Reply]]


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    handler: Handler | None = None
    options: tuple[Option, ...] = ()
    permission: Role = Role.MEMBER
    subcommands: tuple[Command, ...] = ()
    default_subcommand: str | None = None
    examples: tuple[str, ...] = ()
    strict_keywords: bool = False  # an unknown `word:value` is an error, not text
    notes: tuple[str, ...] = ()  # rules worth knowing, shown by /help <command>

    def subcommand(self, name: str) -> Command | None:
        return next((s for s in self.subcommands if s.name == name), None)

    def usage(self, prefix: str = "/", parent: str = "") -> str:
        head = f"{prefix}{parent}{self.name}"
        if self.subcommands:
            return f"{head} {'|'.join(s.name for s in self.subcommands)} …"
        return " ".join([head, *(o.usage() for o in self.options)])


@dataclass(frozen=True)
class CommandTable:
    commands: tuple[Command, ...]

    def __post_init__(self) -> None:
        names = [c.name for c in self.commands]
        duplicated = {n for n in names if names.count(n) > 1}
        if duplicated:
            raise ValueError(f"commands declared twice: {sorted(duplicated)}")

    def get(self, name: str) -> Command | None:
        return next((c for c in self.commands if c.name == name), None)

    def names(self) -> list[str]:
        return [c.name for c in self.commands]
