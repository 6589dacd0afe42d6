"""The one command table: every adapter registers exactly these, natively."""

from __future__ import annotations

from bot.commands.spec import CommandTable
from bot.handlers import export, garden, help, insights, privacy, search
from bot.handlers.assist import assist_commands
from bot.handlers.constellation import constellation_command
from bot.handlers.relay import relay_command
from bot.handlers.rituals import ritual_commands


def build_command_table() -> CommandTable:
    summarize, ask = assist_commands()
    return CommandTable(
        (
            insights.COMMAND,
            search.SEARCH,
            ask,
            summarize,
            search.TAGS,
            ritual_commands(),
            export.COMMAND,
            privacy.COMMAND,
            garden.COMMAND,
            constellation_command(),
            relay_command(),
            help.COMMAND,
        )
    )
