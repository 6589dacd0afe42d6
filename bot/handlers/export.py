"""/export: the community's knowledge as Markdown, JSON Lines and CSV files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.commands.spec import Args, Command, Reply
from bot.context import CommandContext
from knowledge.clock import Clock
from knowledge.export import export_community
from knowledge.insights import InsightStore
from knowledge.vocabulary import Role


@dataclass(frozen=True)
class ExportCommands:
    insights: InsightStore
    export_dir: Path
    clock: Clock

    async def export(self, ctx: CommandContext, args: Args) -> Reply:
        stamp = self.clock.now().strftime("%Y%m%d-%H%M%S")
        target = self.export_dir / f"{ctx.community.slug}-{stamp}"
        summary = await export_community(self.insights, ctx.community, target)
        return Reply(
            f"📦 Exported {summary.insights} insight(s) to {summary.directory}: "
            "markdown/ (one file per insight, Obsidian-friendly), insights.jsonl, insights.csv",
            ephemeral=True,
        )


COMMAND = Command(
    name="export",
    help="Export the community's insights (Markdown, JSON Lines, CSV)",
    handler=ExportCommands.export,
    permission=Role.CURATOR,
)
