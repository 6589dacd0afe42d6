"""The one command table: every adapter registers exactly these, natively."""

from __future__ import annotations

from bot.commands.spec import CommandTable
from bot.handlers import export, help, insights, search
from bot.handlers.privacy import PendingConfirmations, forget_me_command
from bot.handlers.rituals import PendingRituals, ritual_commands


def build_command_table() -> CommandTable:
    return CommandTable(
        (
            insights.COMMAND,
            search.SEARCH,
            search.TAGS,
            ritual_commands(PendingRituals()),
            export.COMMAND,
            forget_me_command(PendingConfirmations()),
            help.COMMAND,
        )
    )
