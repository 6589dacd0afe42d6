"""The command table's handlers bound to their families' instances.

A family (bot/handlers/) is a frozen dataclass whose fields are the services its commands
use and whose async methods are the handlers; the table declares them unbound
(`handler=SearchCommands.search`), so it can be built, registered and documented without
a database. `bot.app` builds each family with exactly its dependencies and binds them
here, once; a handler without an instance is an error at start-up, not at first use.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Iterator

from bot.commands.spec import BoundHandler, Command, CommandTable, Handler


def walk(commands: Iterable[Command], parent: str = "") -> Iterator[tuple[str, Command]]:
    """Every command and subcommand with its path ("ritual add")."""
    for command in commands:
        path = f"{parent}{command.name}"
        yield path, command
        yield from walk(command.subcommands, path + " ")


class BoundCommands:
    """The table plus, for each declared handler, the method of the family that runs it."""

    def __init__(self, table: CommandTable, families: Iterable[object]) -> None:
        self.table = table
        self._bound: dict[Handler, BoundHandler] = {}
        for family in families:
            kind = type(family)
            for name, method in inspect.getmembers(kind, inspect.iscoroutinefunction):
                if method in self._bound:
                    raise ValueError(f"{kind.__name__} is bound twice")
                self._bound[method] = getattr(family, name)
        unbound = [
            path
            for path, command in walk(table.commands)
            if command.handler is not None and command.handler not in self._bound
        ]
        if unbound:
            raise ValueError(f"no command family instance runs: {', '.join(unbound)}")

    def handler(self, command: Command) -> BoundHandler:
        assert command.handler is not None  # a leaf: the parser only returns those
        return self._bound[command.handler]
