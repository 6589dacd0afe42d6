"""/help: generated from the one command table, so it can never fall out of date."""

from __future__ import annotations

from dataclasses import dataclass

from bot.commands.parse import find_command
from bot.commands.spec import Args, Command, CommandTable, Option, OptionType, Reply
from bot.context import CommandContext
from knowledge.vocabulary import Role

SUBCOMMAND_RULE = (
    "/insight <text> captures the text. A subcommand is lower case with the id right after "
    "it (/insight edit 12 …); anything else is captured as text, and /insight add … "
    "always is."
)


def _describe(command: Command, usage: str, prefix: str) -> list[str]:
    lines = [f"  {usage}"]
    lines.extend(f"    {o.name}: {o.help}" for o in command.options)
    lines.extend(f"    e.g. {prefix}{e.removeprefix('/')}" for e in command.examples)
    return lines


def _detail(command: Command, prefix: str) -> str:
    lines = [f"**{prefix}{command.name}**: {command.help}"]
    if command.subcommands:
        for sub in command.subcommands:
            usage = f"{sub.usage(prefix, command.name + ' ')} — {sub.help}"
            lines.extend(_describe(sub, usage, prefix))
    else:
        lines.extend(_describe(command, command.usage(prefix), prefix))
    lines.extend(f"  {note.replace('/insight', prefix + 'insight')}" for note in command.notes)
    if command.permission is not Role.MEMBER:
        lines.append(f"  (for {command.permission.value}s)")
    return "\n".join(lines)


@dataclass(frozen=True)
class HelpCommands:
    table: CommandTable

    async def help_(self, ctx: CommandContext, args: Args) -> Reply:
        prefix = ctx.prefix
        wanted = args.text("command").lstrip(prefix).lstrip("/")
        if wanted:
            return Reply(_detail(find_command(self.table, wanted, prefix), prefix), ephemeral=True)
        lines = ["Hearth commands:"]
        for command in self.table.commands:
            role = "" if command.permission is Role.MEMBER else f" ({command.permission.value}s)"
            lines.append(f"  {command.usage(prefix)} — {command.help}{role}")
        lines.append(f"React with 💡 to capture a message. {prefix}help <command> for details.")
        lines.append(SUBCOMMAND_RULE.replace("/insight", prefix + "insight"))
        return Reply("\n".join(lines), ephemeral=True)


COMMAND = Command(
    name="help",
    help="List commands, or explain one",
    handler=HelpCommands.help_,
    options=(Option("command", OptionType.WORD, "a command to explain"),),
)
