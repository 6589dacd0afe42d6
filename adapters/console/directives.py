"""The console's own keys (`:as bob`, `:react 3 💡`): parsed into values or an error line."""

from __future__ import annotations

import re
from dataclasses import dataclass

DIRECTIVE_HELP = """Console keys:
  :as <name>              speak as someone else (e.g. :as bob)
  :channel <name>         move to another channel
  :reply <id> <text>      reply to message #id (a /command there acts on that message)
  :react <id> <emoji>     react to message #id (💡 captures it)
  :edit <id> <text>       edit one of your messages
  :delete <id>            delete one of your messages
  :dm <text>              send a direct message to the bot (e.g. :dm /ritual answer …)
  :dm community:<slug>    with several communities: the one your direct messages belong to
  :quit                   leave"""

_NEEDS_ID = {"reply": True, "react": True, "edit": True, "delete": True}
_NEEDS_TEXT = {"as", "channel", "reply", "react", "edit", "dm"}
_USAGE = {
    "as": ":as <name>",
    "channel": ":channel <name>",
    "reply": ":reply <message-id> <text>",
    "react": ":react <message-id> <emoji>",
    "edit": ":edit <message-id> <new text>",
    "delete": ":delete <message-id>",
    "dm": ":dm <text>",
}


_MESSAGE_ID = re.compile(r"#?[0-9]{1,18}")
_CHANNEL = re.compile(r"[\w-]{1,80}")


@dataclass(frozen=True)
class Directive:
    name: str
    argument: str = ""
    message_id: int | None = None


def parse_directive(line: str) -> Directive | str:
    """A Directive, or a one-line explanation of what is wrong with the line."""
    name, rest = _word(line[1:].strip())
    name = name.lower()
    if name == "help":
        return Directive("help")
    if name not in _USAGE:
        shown = "".join(c if c.isprintable() else "?" for c in name[:30])
        return f"Unknown console key :{shown}. Type :help for the list."
    rest = rest.strip()
    message_id: int | None = None
    if name in _NEEDS_ID:
        first, rest = _word(rest)
        if not _MESSAGE_ID.fullmatch(first):  # ASCII digits only: "²".isdigit() is True
            return f"Usage: {_USAGE[name]} (message ids are the #numbers shown)"
        message_id, rest = int(first.lstrip("#")), rest.strip()
    if name in _NEEDS_TEXT and not rest:
        return f"Usage: {_USAGE[name]}"
    if name == "as" and (":" in rest or any(c.isspace() for c in rest)):
        return "Names are one word without ':' (e.g. :as bob)"
    if name == "channel":
        rest = rest.removeprefix("#")
        if not _CHANNEL.fullmatch(rest):
            return "Channel names are letters, digits, '-' and '_' (e.g. :channel general)"
    return Directive(name, rest, message_id)


def _word(text: str) -> tuple[str, str]:
    """The first word and the rest, split at any whitespace (tabs, newlines too)."""
    parts = text.split(None, 1)
    return (parts[0], parts[1] if len(parts) > 1 else "") if parts else ("", "")
