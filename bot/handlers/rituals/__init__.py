"""/ritual: schedule reflection prompts, retros, check-ins and digests, and manage them."""

from __future__ import annotations

from bot.commands.spec import Command
from bot.handlers.rituals.definitions import RitualDefinitions, definition_commands
from bot.handlers.rituals.joint import JointCommands
from bot.handlers.rituals.members import RitualMembers, member_commands

__all__ = ["JointCommands", "RitualDefinitions", "RitualMembers", "ritual_commands"]


def ritual_commands() -> Command:
    return Command(
        name="ritual",
        help="Schedule and manage rituals: reflections, retros, check-ins, digests",
        subcommands=(*definition_commands(), *member_commands()),
    )
