"""Turn the text after a command name into typed options, or a message saying what is wrong."""

from __future__ import annotations

import difflib
import itertools
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from bot.commands.spec import Args, Command, CommandTable, Option, OptionType
from knowledge.errors import InvalidInput

_TOKEN = re.compile(r"\S+")
_KEYWORD = re.compile(r"^([a-z][a-z_-]*):(.*)$", re.DOTALL)


@dataclass(frozen=True)
class ParsedCommand:
    command: Command
    path: str  # e.g. "insight edit", for messages and logs
    args: Args


def split_command_line(line: str, prefix: str) -> tuple[str, str] | None:
    """`/insight foo` -> ("insight", "foo"); None when the line is not a command."""
    if not line.startswith(prefix) or len(line) == len(prefix):
        return None
    head, _, rest = line[len(prefix) :].partition(" ")
    if not head or head[0].isspace():
        return None
    return head.lower(), rest.strip()


def find_command(table: CommandTable, name: str, prefix: str) -> Command:
    command = table.get(name)
    if command is None:
        close = difflib.get_close_matches(name, table.names(), n=1)
        hint = f" Did you mean {prefix}{close[0]}?" if close else ""
        raise InvalidInput(f"Unknown command {prefix}{name}.{hint} Try {prefix}help.")
    return command


def parse(command: Command, text: str, prefix: str = "/") -> ParsedCommand:
    path = command.name
    if command.subcommands:
        first, _, rest = text.partition(" ")
        sub = command.subcommand(first.lower())
        if sub is None:
            if command.default_subcommand is None:
                names = ", ".join(s.name for s in command.subcommands)
                raise InvalidInput(f"{prefix}{command.name} needs one of: {names}.")
            sub = command.subcommand(command.default_subcommand)
            assert sub is not None
        else:
            text = rest.strip()
        command, path = sub, f"{command.name} {sub.name}"
    return ParsedCommand(command, path, Args(_parse_options(command, path, text, prefix)))


def _parse_options(command: Command, path: str, text: str, prefix: str) -> dict[str, Any]:
    usage = f"Usage: {prefix}{path} {' '.join(o.usage() for o in command.options)}".rstrip()
    keywords = {o.name: o for o in command.options if o.keyword}
    values: dict[str, Any] = {}
    kept: list[tuple[int, int]] = []
    for match in _TOKEN.finditer(text):
        keyword = _KEYWORD.match(match.group())
        if keyword and keyword.group(1) in keywords and keyword.group(2):
            option = keywords[keyword.group(1)]
            value = convert(option, keyword.group(2), usage)
            if option.repeated:
                values.setdefault(option.name, []).append(value)
            elif option.name in values:
                raise InvalidInput(f"{option.name}: is given twice. {usage}")
            else:
                values[option.name] = value
        elif keyword and command.strict_keywords and "//" not in keyword.group(2):
            known = ", ".join(f"{k}:" for k in keywords) or "none"
            raise InvalidInput(
                f"Unknown option {keyword.group(1)}: (options here: {known}). "
                f'To search for the text itself, put it in quotes: "{match.group()}".'
            )
        else:
            kept.append(match.span())
    rest = _remaining_text(text, kept)
    for option in (o for o in command.options if not o.keyword):
        if option.type is OptionType.TEXT:
            if rest:
                values[option.name] = rest
            rest = ""
        elif rest:
            word, _, rest = rest.partition(" ")
            values[option.name] = convert(option, word, usage)
            rest = rest.strip()
    if rest:
        raise InvalidInput(f"I don't know what to do with {rest!r}. {usage}")
    missing = [o.name for o in command.options if o.required and o.name not in values]
    if missing:
        raise InvalidInput(f"Missing {', '.join(missing)}. {usage}")
    return values


def _remaining_text(text: str, spans: list[tuple[int, int]]) -> str:
    """The text without keyword tokens, keeping the person's own spacing and newlines."""
    if not spans:
        return ""
    pieces = [text[spans[0][0] : spans[0][1]]]
    for (_, end), (start, stop) in itertools.pairwise(spans):
        pieces.append(text[end:start] if text[end:start].strip() == "" else " ")
        pieces.append(text[start:stop])
    return "".join(pieces).strip()


def convert(option: Option, raw: str, usage: str) -> Any:
    """One option value from text, or InvalidInput naming the option and an example."""
    if option.type is OptionType.INTEGER:
        cleaned = raw.lstrip("#")
        if not cleaned.isdigit():
            raise InvalidInput(f"{option.name} should be a number, like 12 (got {raw!r}). {usage}")
        return int(cleaned)
    if option.type is OptionType.DATE:
        try:
            return date.fromisoformat(raw)
        except ValueError:
            raise InvalidInput(
                f"{option.name} should be a date like 2026-01-31 (got {raw!r})."
            ) from None
    if option.choices and raw.lower() not in option.choices:
        raise InvalidInput(
            f"{option.name} should be one of {', '.join(option.choices)} (got {raw!r})."
        )
    return raw
