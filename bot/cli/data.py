"""The knowledge from the command line: `search`, `reindex`, `export`, `import`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from bot.app import Hearth
from bot.assist.semantic import EmbeddingFailed
from bot.cli.common import (
    CommunityOption,
    ConfigOption,
    app,
    community_of,
    config_from,
    err,
    fail,
    out,
    progress,
    run_async,
    with_hearth,
)
from bot.cli.running import language_model, local_embedder
from bot.faults import crash_point
from knowledge.errors import UserError


@app.command()
def search(
    query: Annotated[
        str, typer.Argument(help='Words, "phrases", -excluded, tag:x, author:y, since:DATE')
    ],
    community: CommunityOption = None,
    config: ConfigOption = None,
) -> None:
    """Search insights from the command line, as /search does in chat."""
    from bot import formatting
    from bot.commands.parse import parse
    from bot.handlers.search import SEARCH, plan_search
    from bot.text import parse as parse_markdown
    from bot.text import to_terminal

    settings = config_from(config, store_only=True)  # adapters' secrets are not needed here
    page_size = 20

    async def work(hearth: Hearth) -> str:
        if community is not None:
            targets = [await community_of(hearth, community)]
        else:
            targets = await hearth.services.directory.communities()
        sections = []
        for target in targets:
            planned = plan_search(parse(SEARCH, query).args, target, page_size)
            page = await hearth.services.search.search(planned.query)
            found = formatting.search_results(page, planned.described, page_size)
            sections.append(
                found if len(targets) == 1 else f"── {target.name} ({target.slug})\n{found}"
            )
        return "\n\n".join(sections) or "There are no communities in this database yet."

    # Hearth's Markdown as terminal styles; rich drops them when stdout is no terminal
    shown = to_terminal(parse_markdown(run_async(with_hearth(settings, work))), styled=True)
    out.print(Text.from_ansi(shown), highlight=False)


@app.command()
def reindex(community: CommunityOption = None, config: ConfigOption = None) -> None:
    """Embed every insight that has no vector from the current model (after a model
    change, or to back-fill at once); stop it any time, it goes on where it stopped."""
    settings = config_from(config)
    if not settings.assist.semantic_search:
        raise fail("semantic search is off (assist.semantic_search = false): nothing to embed")

    async def main() -> str:
        embedder = await asyncio.to_thread(local_embedder, settings)
        hearth = await Hearth.open(settings, model=language_model(settings), embedder=embedder)
        try:
            return await _reindex(hearth, community)
        finally:
            await hearth.close()

    out.print(run_async(main()), highlight=False, markup=False)


async def _reindex(hearth: Hearth, community: str | None) -> str:
    semantic = hearth.services.semantic
    if semantic is None:
        raise UserError("no embedding model is available: semantic search is off")
    if community is not None:
        targets = [await community_of(hearth, community)]
    else:
        targets = await hearth.services.directory.communities()
    lines = []
    for target in targets:
        if not semantic.enabled_for(target):
            lines.append(f"{target.slug}: skipped (the endpoint embeds only assist = true)")
            continue
        total = await semantic.count_missing(target)
        done = 0
        with progress() as bar:
            task = bar.add_task(f"Embedding {target.slug}", total=total)
            while done < total:
                try:
                    embedded = await semantic.backfill(target, limit=256)
                except EmbeddingFailed as exc:
                    raise UserError(
                        f"embedding failed after {done} insight(s) of {target.slug} ({exc}); "
                        "run hearth reindex again to go on from there"
                    ) from None
                if embedded == 0:
                    break
                done += embedded
                crash_point("reindex.after_batch")
                bar.update(task, completed=min(done, total))
        lines.append(f"{target.slug}: embedded {done} insight(s) with {semantic.embedder.name}")
    return "\n".join(lines) or "There are no communities in this database yet."


@app.command()
def export(
    out_dir: Annotated[Path | None, typer.Option("--out", help="Directory to create")] = None,
    community: CommunityOption = None,
    config: ConfigOption = None,
) -> None:
    """Export a community's insights as Markdown (Obsidian-friendly), JSON Lines and CSV."""
    from knowledge.export import export_community

    settings = config_from(config)

    async def work(hearth: Hearth) -> str:
        target = await community_of(hearth, community)
        directory = out_dir or settings.hearth.export_dir / target.slug
        total = await hearth.services.insights.count(target.id)
        with progress() as bar:
            task = bar.add_task(f"Exporting {target.slug}", total=total)
            summary = await export_community(
                hearth.services.insights,
                target,
                directory,
                lambda done: bar.update(task, completed=done),
            )
        return f"Exported {summary.insights} insight(s) to {summary.directory}"

    out.print(run_async(with_hearth(settings, work)), highlight=False, markup=False)


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="insights.jsonl from `hearth export`")],
    community: CommunityOption = None,
    config: ConfigOption = None,
) -> None:
    """Import insights from an export; importing the same file twice adds nothing."""
    from knowledge.importer import import_jsonl

    settings = config_from(config)

    async def work(hearth: Hearth) -> tuple[str, int]:
        target = await community_of(hearth, community)
        lines = _count_lines(file)
        with progress() as bar:
            task = bar.add_task(f"Importing into {target.slug}", total=lines)
            summary = await import_jsonl(
                hearth.services.insights,
                hearth.services.directory,
                target,
                file,
                lambda done: bar.update(task, completed=done),
            )
        for problem in summary.errors:
            err.print(f"skipped: {problem}", highlight=False, markup=False)
        return (
            f"Imported {summary.created} new insight(s); {summary.already_present} were "
            f"already there; {len(summary.errors)} line(s) skipped.",
            1 if summary.errors else 0,
        )

    message, code = run_async(with_hearth(settings, work))
    out.print(message, highlight=False, markup=False)
    if code:
        raise typer.Exit(code)


def _count_lines(path: Path) -> int:
    try:
        with path.open("rb") as f:
            return sum(1 for _ in f)
    except OSError:
        return 0
