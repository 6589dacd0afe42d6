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
_ID = re.compile(r"#?[0-9]+")
_FIRST_WORD = re.compile(r"(\S*)\s*(.*)", re.DOTALL)
MAX_DIGITS = 30  # even an unbounded INTEGER option stops here (int() of huge text is slow)


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


def _takes_text(command: Command) -> bool:
    return any(o.type is OptionType.TEXT and not o.keyword for o in command.options)


def _named_subcommand(command: Command, text: str) -> tuple[Command, str] | None:
    """The subcommand `text` starts with, and the text after its name; None if it names none.

    Where the default subcommand takes free text (`/insight <text>`), words that happen to
    be subcommand names must not be misread: there a subcommand is named only in lower case,
    exactly as declared, and one that acts on an id (edit, show, delete …) only when an id
    (`12` or `#12`) follows its name (or nothing does: `/insight show` asks for the id).
    Everything else is the default's text."""
    match = _FIRST_WORD.match(text)
    assert match is not None  # the pattern matches any string
    first, rest = match.group(1), match.group(2)
    default = command.subcommand(command.default_subcommand or "")
    if default is None or not _takes_text(default):
        sub = command.subcommand(first.lower())
        return None if sub is None else (sub, rest)
    sub = command.subcommand(first)
    if sub is None:
        return None
    positional = [o for o in sub.options if not o.keyword]
    if positional and positional[0].type is OptionType.INTEGER and rest.strip():
        next_word = _FIRST_WORD.match(rest)
        if next_word is None or not _ID.fullmatch(next_word.group(1)):
            return None
    return sub, rest


def parse(command: Command, text: str, prefix: str = "/") -> ParsedCommand:
    path = command.name
    if not command.subcommands:
        return ParsedCommand(command, path, Args(_parse_options(command, path, text, prefix)))
    named = _named_subcommand(command, text)
    if named is None:
        if command.default_subcommand is None:
            names = ", ".join(s.name for s in command.subcommands)
            raise InvalidInput(f"{prefix}{command.name} needs one of: {names}.")
        sub = command.subcommand(command.default_subcommand)
        assert sub is not None
        path = f"{command.name} {sub.name}"
        return ParsedCommand(sub, path, Args(_parse_options(sub, path, text, prefix)))
    sub, rest = named
    path = f"{command.name} {sub.name}"
    default = command.subcommand(command.default_subcommand or "")
    try:
        return ParsedCommand(sub, path, Args(_parse_options(sub, path, rest.strip(), prefix)))
    except InvalidInput as exc:
        if default is None or not _takes_text(default):
            raise
        hint = f"{prefix}{command.name} {default.name} {text}"
        raise InvalidInput(f"{exc.message} To keep it as text instead: {hint}") from None


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
        elif keyword and command.strict_keywords and keyword.group(1) in keywords:
            example = keywords[keyword.group(1)].help
            raise InvalidInput(
                f"{keyword.group(1)}: is empty: write it as {keyword.group(1)}:"
                f"<value> ({example}), or leave it out."
            )
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
        cleaned = raw.removeprefix("#")
        if not re.fullmatch(r"[0-9]+", cleaned):
            raise InvalidInput(f"{option.name} should be a number, like 12 (got {raw!r}). {usage}")
        limit = option.maximum
        if len(cleaned) > MAX_DIGITS or (limit is not None and int(cleaned) > limit):
            shown = cleaned if len(cleaned) <= 12 else cleaned[:12] + "…"
            most = f"it goes up to {limit}" if limit is not None else "no list is that long"
            raise InvalidInput(f"{option.name} {shown} is too large: {most}.")
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
