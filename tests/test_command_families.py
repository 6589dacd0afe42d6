"""Every command the table declares is run by a family built with its own services."""

from __future__ import annotations

import pytest

from bot.commands.families import BoundCommands
from bot.commands.table import build_command_table
from bot.handlers.help import HelpCommands


def test_a_command_whose_family_was_not_built_stops_start_up_naming_it() -> None:
    table = build_command_table()
    with pytest.raises(ValueError, match="no command family instance runs: insight add"):
        BoundCommands(table, [HelpCommands(table)])
