"""/export: the community's knowledge as Markdown, JSON Lines and CSV files."""

from __future__ import annotations

from bot.commands.spec import Args, Command, Reply
from bot.context import CommandContext
from knowledge.export import export_community
from knowledge.vocabulary import Role


async def export(ctx: CommandContext, args: Args) -> Reply:
    stamp = ctx.services.clock.now().strftime("%Y%m%d-%H%M%S")
    target = ctx.services.export_dir / f"{ctx.community.slug}-{stamp}"
    summary = await export_community(ctx.services.insights, ctx.community, target)
    return Reply(
        f"📦 Exported {summary.insights} insight(s) to {summary.directory}: "
        "markdown/ (one file per insight, Obsidian-friendly), insights.jsonl, insights.csv",
        ephemeral=True,
    )


COMMAND = Command(
    name="export",
    help="Export the community's insights (Markdown, JSON Lines, CSV)",
    handler=export,
    permission=Role.CURATOR,
)
