"""The one command table as Discord application commands, and interactions back to text.

Why raw application-command payloads rather than `app_commands.Command` objects: the table
is data, known only at run time, and discord.py's tree wants a typed Python callback per
command. Building the wire payload directly keeps one source of truth (the table), and an
interaction is turned back into the same text the console types, so every platform reaches
the handlers through `Inbound.command` and `parse()`: one code path, one set of errors.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.commands.spec import Command, CommandTable, Option, OptionType

SAVE_AS_INSIGHT = "Save as insight"

# Discord's application command option types.
SUB_COMMAND = 1
STRING = 3
INTEGER = 4
CHAT_INPUT = 1
MESSAGE_MENU = 3

# Options whose values come from the community's own data, offered as autocomplete.
TAG_OPTIONS = frozenset({"tag", "tags"})
RITUAL_NAME_PATHS = frozenset(
    f"ritual {s}"
    for s in ("show", "pause", "resume", "skip", "run-now", "edit", "remove", "answer")
)


def _describe(text: str) -> str:
    return (text[:97] + "…") if len(text) > 100 else (text or "—")


def autocomplete_kind(path: str, option: Option) -> str | None:
    """'tags' or 'rituals' when this option is completed from the store, else None."""
    if option.name in TAG_OPTIONS:
        return "tags"
    if option.name == "name" and path in RITUAL_NAME_PATHS:
        return "rituals"
    return None


def option_payload(path: str, option: Option) -> dict[str, Any]:
    description = option.help
    if option.type is OptionType.DATE:
        description = f"{option.help} (YYYY-MM-DD)"
    elif option.repeated:
        description = f"{option.help} (several: separate with spaces)"
    payload: dict[str, Any] = {
        "type": INTEGER if option.type is OptionType.INTEGER else STRING,
        "name": option.name,
        "description": _describe(description),
        "required": option.required,
    }
    if option.type is OptionType.INTEGER:
        payload["min_value"] = 0
    if option.choices:
        payload["choices"] = [{"name": c, "value": c} for c in option.choices]
    elif autocomplete_kind(path, option) is not None:
        payload["autocomplete"] = True
    return payload


def _options(path: str, options: Iterable[Option]) -> list[dict[str, Any]]:
    # Discord insists that required options come before optional ones.
    ordered = sorted(options, key=lambda o: not o.required)
    return [option_payload(path, o) for o in ordered]


def command_payload(command: Command) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "type": CHAT_INPUT,
        "name": command.name,
        "description": _describe(command.help),
    }
    if command.subcommands:
        payload["options"] = [
            {
                "type": SUB_COMMAND,
                "name": sub.name,
                "description": _describe(sub.help),
                "options": _options(f"{command.name} {sub.name}", sub.options),
            }
            for sub in command.subcommands
        ]
    else:
        payload["options"] = _options(command.name, command.options)
    return payload


def application_commands(table: CommandTable) -> list[dict[str, Any]]:
    """Everything to register: one slash command per table entry, and the message menu."""
    return [
        *(command_payload(c) for c in table.commands),
        {"type": MESSAGE_MENU, "name": SAVE_AS_INSIGHT},
    ]


@dataclass(frozen=True)
class Invocation:
    """A slash command as the core understands it."""

    name: str
    path: str
    text: str
    options: dict[str, Any]
    focused: str | None = None  # autocomplete: the option being typed


def _find(command: Command, name: str) -> Option | None:
    return next((o for o in command.options if o.name == name), None)


def _render(option: Option | None, name: str, value: Any) -> list[str]:
    """One option value as the words `parse()` reads back."""
    text = str(value).strip()
    if not text:
        return []
    if option is None or not option.keyword:
        return [text]
    values = text.replace(",", " ").split() if option.repeated else [text]
    return [f"{name}:{v}" for v in values]


def invocation(table: CommandTable, data: Mapping[str, Any]) -> Invocation:
    """Interaction `data` → the command name, the text after it, and the raw options."""
    name = str(data.get("name", ""))
    command = table.get(name)
    given: list[Mapping[str, Any]] = list(data.get("options") or [])
    words: list[str] = []
    path = name
    if given and given[0].get("type") == SUB_COMMAND:
        sub_name = str(given[0]["name"])
        words.append(sub_name)
        path = f"{name} {sub_name}"
        command = command.subcommand(sub_name) if command is not None else None
        given = list(given[0].get("options") or [])
    options = {str(o["name"]): o.get("value") for o in given}
    focused = next((str(o["name"]) for o in given if o.get("focused")), None)
    if command is not None:
        # Positional options in declared order (a TEXT one takes the rest), then keywords.
        declared = [o for o in command.options if o.name in options]
        for option in sorted(declared, key=lambda o: (o.keyword, o.type is OptionType.TEXT)):
            words += _render(option, option.name, options[option.name])
    else:
        for key, value in options.items():
            words += _render(None, key, value)
    return Invocation(name, path, " ".join(words), options, focused)


def option_at(table: CommandTable, path: str, name: str) -> Option | None:
    head, _, sub = path.partition(" ")
    command = table.get(head)
    if command is not None and sub:
        command = command.subcommand(sub)
    return None if command is None else _find(command, name)
