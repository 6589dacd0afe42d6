"""The `hearth` command line: run the bot, manage config and database, search, export, import."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import signal
import sys
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, TypeVar

import structlog
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.text import Text

from bot.adapter import Adapter
from bot.app import Hearth, open_store
from bot.assist import LanguageModel
from bot.assist.semantic import Embedder, EmbeddingFailed
from bot.config import Config, ConfigError, load_config
from bot.log_setup import configure_logging
from bot.supervise import AdapterFailed
from knowledge.db import DatabaseUnavailable
from knowledge.directory import Directory
from knowledge.errors import UserError
from knowledge.failures import explain, root_cause
from knowledge.inbound import InboundLog
from knowledge.views import CommunityInfo

log = structlog.get_logger(__name__)
T = TypeVar("T")
DEFAULT_CONFIG = Path("hearth.toml")

app = typer.Typer(
    help="Hearth: capture, rituals and constellations for communities of practice.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema commands.", no_args_is_help=True)
app.add_typer(db_app, name="db")
slack_app = typer.Typer(help="Slack app commands.", no_args_is_help=True)
app.add_typer(slack_app, name="slack")
discord_app = typer.Typer(help="Discord application commands.", no_args_is_help=True)
app.add_typer(discord_app, name="discord")
err = Console(stderr=True)
out = Console()

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Config file (default: $HEARTH_CONFIG, ./hearth.toml, "
        "else the embedded SQLite + console default)",
    ),
]
CommunityOption = Annotated[
    str | None, typer.Option("--community", help="Community slug (needed when there are several)")
]


def _fail(message: str, code: int = 2) -> typer.Exit:
    # The message is plain text (paths, patterns like [a-z], `hearth[embeddings]`): escaped,
    # so rich never reads its square brackets as markup.
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _config(path: Path | None, *, store_only: bool = False) -> Config:
    if path is None and os.environ.get("HEARTH_CONFIG"):
        path = Path(os.environ["HEARTH_CONFIG"])
    if path is None and DEFAULT_CONFIG.exists():
        path = DEFAULT_CONFIG
    try:
        config = load_config(path, store_only=store_only)
    except ConfigError as exc:
        raise _fail(f"{exc}\nHearth did not start.") from None
    configure_logging(config.hearth.log_level, config.hearth.log_format)
    return config


def _run(coro: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(coro)
    except DatabaseUnavailable as exc:
        raise _fail(str(exc), 3) from None
    except UserError as exc:
        raise _fail(exc.message) from None
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except Exception as exc:  # one sentence for the person, the traceback for the log
        incident = uuid.uuid4().hex[:8]
        sentence = explain(exc)
        if sentence is not None:  # understood: the cause is enough, no traceback
            log.warning("cli.failed", incident=incident, why=sentence, cause=root_cause(exc))
        else:
            log.error("cli.failed", incident=incident, exc_info=exc)
            sentence = (
                f"Hearth stopped on an unexpected error ({type(exc).__name__}: {exc}); "
                "the details are logged"
            )
        raise _fail(f"{sentence} (incident {incident})", 1) from None


async def _with_hearth(config: Config, work: Callable[[Hearth], Awaitable[T]]) -> T:
    hearth = await Hearth.open(config)
    try:
        return await work(hearth)
    finally:
        await hearth.close()


async def _community(hearth: Hearth, slug: str | None) -> CommunityInfo:
    directory: Directory = hearth.services.directory
    if slug is not None:
        found = await directory.community_by_slug(slug)
        if found is None:
            raise UserError(f"no community with slug {slug!r}")
        return found
    communities = await directory.communities()
    if len(communities) != 1:
        slugs = ", ".join(c.slug for c in communities) or "none"
        raise UserError(f"say which community with --community (there are: {slugs})")
    return communities[0]


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    )


@app.command()
def run(config: ConfigOption = None) -> None:
    """Start Hearth with the adapters the config enables (console by default)."""
    from adapters.console.adapter import ConsoleAdapter, database_numbers
    from knowledge.sync_tokens import SyncTokens

    settings = _config(config)

    async def main() -> None:
        embedder = await asyncio.to_thread(_local_embedder, settings)
        hearth = await Hearth.open(settings, model=_language_model(settings), embedder=embedder)
        stop = _stop_on_signals()
        adapters: list[Adapter] = []
        if settings.adapters.console.enabled:
            console = settings.adapters.console
            numbers = database_numbers(SyncTokens(hearth.database), console.space)
            adapters.append(ConsoleAdapter(console, on_quit=stop.set, numbers=numbers))
        if settings.adapters.slack.enabled:
            from adapters.slack import SlackAdapter

            adapters.append(
                SlackAdapter(
                    settings.adapters.slack,
                    InboundLog(hearth.database),
                    server=hearth.ops,
                )
            )
        if settings.adapters.discord.enabled:
            from adapters.discord_gateway.adapter import DiscordAdapter

            adapters.append(
                DiscordAdapter(
                    settings.adapters.discord,
                    services=hearth.services,
                    inbound_log=InboundLog(hearth.database),
                )
            )
        if settings.adapters.matrix.enabled:
            from adapters.matrix import MatrixAdapter

            adapters.append(
                MatrixAdapter(
                    settings.adapters.matrix,
                    InboundLog(hearth.database),
                    SyncTokens(hearth.database),
                )
            )
        if not adapters:
            raise UserError("no adapter is enabled in the config: nothing to run")
        try:
            await hearth.run(adapters, stop)
        except asyncio.CancelledError:
            pass
        finally:
            await hearth.close()

    try:
        _run(main())
    except AdapterFailed as exc:
        raise _fail(str(exc), 1) from None
    except KeyboardInterrupt:
        err.print("stopped")


def _stop_on_signals() -> asyncio.Event:
    """SIGTERM or SIGINT (Ctrl-C) stops Hearth cleanly: adapters finish the event in hand,
    then everything closes. A second signal cancels whatever is still running."""
    stop = asyncio.Event()
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()

    def signalled(name: str) -> None:
        if stop.is_set():
            log.warning("hearth.stop_forced", signal=name)
            task.cancel()
        else:
            log.info("hearth.stop_requested", signal=name)
            stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, signalled, signum.name)
    return stop


def _language_model(settings: Config) -> LanguageModel | None:
    """The configured assist endpoint, or None for offline drafts only."""
    assist = settings.assist
    if not assist.base_url:
        return None
    from adapters.openai_assist import OpenAIAssist

    return OpenAIAssist(
        base_url=assist.base_url,
        api_key=assist.api_key or "not-needed",  # local servers often want no key
        model=assist.model,
        embedding_model=assist.embedding_model or None,
        timeout_seconds=assist.timeout_seconds,
        max_retries=assist.max_retries,
        max_input_tokens=assist.max_input_tokens,
    )


def _local_embedder(settings: Config, load_now: bool = False) -> Embedder | None:
    """The local embedding model: the configured one, else the packaged one; None when
    semantic search is off or the endpoint embeds instead. It loads at its first use
    (an idle bot never pays its memory) unless `load_now` (check-config proves it)."""
    assist = settings.assist
    if not assist.semantic_search:
        return None
    from adapters.local_embeddings import (
        LazyEmbedder,
        LocalModelUnavailable,
        packaged_model,
        static_model,
    )

    embedder: Embedder

    try:
        if assist.local_embedding_model:
            embedder = static_model(assist.local_embedding_model)
        elif assist.base_url and assist.embedding_model:
            return None  # Hearth.open uses the endpoint's embeddings (opted-in communities)
        else:
            embedder = packaged_model()
        if load_now and isinstance(embedder, LazyEmbedder):
            embedder.load()
    except LocalModelUnavailable as exc:
        raise UserError(str(exc)) from None
    return embedder


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the config")] = DEFAULT_CONFIG,
    force: Annotated[bool, typer.Option(help="Overwrite an existing file")] = False,
) -> None:
    """Write a starter config with every key documented."""
    if path.exists() and not force:
        raise _fail(f"{path} already exists; use --force to overwrite it")
    text = resources.files("bot").joinpath("config.example.toml").read_text(encoding="utf-8")
    path.write_text(text, encoding="utf-8")
    out.print(
        f"Wrote {path}. Edit it, then: hearth check-config {path}",
        highlight=False,
        markup=False,
    )


@app.command("check-config")
def check_config(
    path: Annotated[
        Path | None, typer.Argument(help="Config file (same as --config)", show_default=False)
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Validate the config (and its environment variables) without starting anything."""
    if path is not None and config is not None and path != config:
        raise _fail(f"two config files given ({path} and --config {config}): give one")
    settings = _config(path or config)
    if settings.assist.semantic_search:  # prove the model loads: OK must mean it will run
        try:
            _local_embedder(settings, load_now=True)
        except UserError as exc:
            raise _fail(exc.message) from None
    adapters = [name for name, section in settings.adapters if getattr(section, "enabled", False)]
    out.print(
        f"Config OK: {len(settings.communities)} community(ies) "
        f"({', '.join(c.slug for c in settings.communities)}); "
        f"adapters: {', '.join(adapters) or 'none'}; database: {settings.hearth.database_url}",
        highlight=False,
        markup=False,
    )


@slack_app.command("manifest")
def slack_manifest(config: ConfigOption = None) -> None:
    """Print the Slack app manifest (commands, shortcut, scopes, events) to paste into Slack."""
    from adapters.slack import manifest_yaml

    typer.echo(manifest_yaml(_config(config).adapters.slack))  # raw: YAML must not wrap


@discord_app.command("invite")
def discord_invite(config: ConfigOption = None) -> None:
    """Print the invite URL: exactly the permissions and scopes Hearth needs."""
    from adapters.discord_gateway.admin import invite_url

    application_id = _config(config).adapters.discord.application_id
    if application_id is None:
        raise _fail("set [adapters.discord] application_id (from the developer portal) first")
    typer.echo(invite_url(application_id))
    typer.echo("Enable the Message Content intent for the bot in the developer portal.")


@discord_app.command("sync-commands")
def discord_sync_commands(config: ConfigOption = None) -> None:
    """Register the slash commands and the message menu (dev guilds if set, else global)."""
    from adapters.discord_gateway.admin import sync_commands
    from bot.commands.table import build_command_table

    settings = _config(config).adapters.discord
    if not settings.token or settings.application_id is None:
        raise _fail("[adapters.discord] needs token and application_id to sync commands")
    for scope in _run(sync_commands(settings, build_command_table())):
        out.print(f"synced: {scope}", highlight=False, markup=False)


@app.command()
def healthcheck(config: ConfigOption = None) -> None:
    """Exit 0 if this machine's Hearth answers /healthz (for Docker's HEALTHCHECK).

    With [web] off there is nothing to ask: it says so and exits 0.
    """
    import urllib.error
    import urllib.request

    address = _config(config).web.address()
    if address is None:
        out.print("The operations server is off ([web] listen is empty): nothing to check.")
        return
    host, port = address
    host = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    url = f"http://{host}:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            status = response.status
    except (urllib.error.URLError, OSError) as exc:
        raise _fail(f"{url} does not answer ({exc})", 1) from None
    if status != 200:
        raise _fail(f"{url} answered {status}", 1)
    out.print(f"{url}: alive")


@db_app.command("upgrade")
def db_upgrade(config: ConfigOption = None) -> None:
    """Bring the database schema up to date (creates it if empty)."""
    settings = _config(config).model_copy(
        update={"hearth": _config(config).hearth.model_copy(update={"auto_migrate": True})}
    )

    async def main() -> str | None:
        from knowledge import migrate

        database = await open_store(settings)
        try:
            return await migrate.current_revision(database)
        finally:
            await database.dispose()

    out.print(f"Database is at schema revision {_run(main())} (head).", markup=False)


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

    settings = _config(config, store_only=True)  # adapters' secrets are not needed here
    page_size = 20

    async def work(hearth: Hearth) -> str:
        if community is not None:
            targets = [await _community(hearth, community)]
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
    shown = to_terminal(parse_markdown(_run(_with_hearth(settings, work))), styled=True)
    out.print(Text.from_ansi(shown), highlight=False)


@app.command()
def reindex(community: CommunityOption = None, config: ConfigOption = None) -> None:
    """Embed every insight that has no vector from the current model (after a model
    change, or to back-fill at once); stop it any time, it goes on where it stopped."""
    settings = _config(config)
    if not settings.assist.semantic_search:
        raise _fail("semantic search is off (assist.semantic_search = false): nothing to embed")

    async def main() -> str:
        embedder = await asyncio.to_thread(_local_embedder, settings)
        hearth = await Hearth.open(settings, model=_language_model(settings), embedder=embedder)
        try:
            return await _reindex(hearth, community)
        finally:
            await hearth.close()

    out.print(_run(main()), highlight=False, markup=False)


async def _reindex(hearth: Hearth, community: str | None) -> str:
    semantic = hearth.services.semantic
    if semantic is None:
        raise UserError("no embedding model is available: semantic search is off")
    if community is not None:
        targets = [await _community(hearth, community)]
    else:
        targets = await hearth.services.directory.communities()
    lines = []
    for target in targets:
        if not semantic.enabled_for(target):
            lines.append(f"{target.slug}: skipped (the endpoint embeds only assist = true)")
            continue
        total = await semantic.count_missing(target)
        done = 0
        with _progress() as progress:
            task = progress.add_task(f"Embedding {target.slug}", total=total)
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
                progress.update(task, completed=min(done, total))
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

    settings = _config(config)

    async def work(hearth: Hearth) -> str:
        target = await _community(hearth, community)
        directory = out_dir or settings.hearth.export_dir / target.slug
        total = await hearth.services.insights.count(target.id)
        with _progress() as progress:
            task = progress.add_task(f"Exporting {target.slug}", total=total)
            summary = await export_community(
                hearth.services.insights,
                target,
                directory,
                lambda done: progress.update(task, completed=done),
            )
        return f"Exported {summary.insights} insight(s) to {summary.directory}"

    out.print(_run(_with_hearth(settings, work)), highlight=False, markup=False)


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="insights.jsonl from `hearth export`")],
    community: CommunityOption = None,
    config: ConfigOption = None,
) -> None:
    """Import insights from an export; importing the same file twice adds nothing."""
    from knowledge.importer import import_jsonl

    settings = _config(config)

    async def work(hearth: Hearth) -> tuple[str, int]:
        target = await _community(hearth, community)
        lines = _count_lines(file)
        with _progress() as progress:
            task = progress.add_task(f"Importing into {target.slug}", total=lines)
            summary = await import_jsonl(
                hearth.services.insights,
                hearth.services.directory,
                target,
                file,
                lambda done: progress.update(task, completed=done),
            )
        for problem in summary.errors:
            err.print(f"skipped: {problem}", highlight=False, markup=False)
        return (
            f"Imported {summary.created} new insight(s); {summary.already_present} were "
            f"already there; {len(summary.errors)} line(s) skipped.",
            1 if summary.errors else 0,
        )

    message, code = _run(_with_hearth(settings, work))
    out.print(message, highlight=False, markup=False)
    if code:
        raise typer.Exit(code)


def _count_lines(path: Path) -> int:
    try:
        with path.open("rb") as f:
            return sum(1 for _ in f)
    except OSError:
        return 0


def main() -> None:
    """The `hearth` program: once a command has finished and closed what it opened, exit
    without the interpreter's module teardown, which took most of the time between
    SIGTERM and the process ending (1.3 s of 1.4 s on a loaded machine; bench/shutdown.py)."""
    try:
        app()
        code: object = 0
    except SystemExit as exit_:
        code = exit_.code
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    atexit._run_exitfuncs()  # logging's flush and any library's own clean-up still run
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a reader that went away
            stream.flush()
    os._exit(code or 0)


if __name__ == "__main__":
    main()
