"""What every `hearth` command shares: the Typer apps, the config and community lookups,
and turning any failure into one sentence (and an incident number for the log)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import structlog
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from bot.app import Hearth
from bot.config import Config, ConfigError, load_config
from bot.log_setup import configure_logging
from knowledge.db import DatabaseUnavailable
from knowledge.directory import Directory
from knowledge.errors import UserError
from knowledge.failures import explain, root_cause
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


def fail(message: str, code: int = 2) -> typer.Exit:
    # The message is plain text (paths, patterns like [a-z], `hearth[embeddings]`): escaped,
    # so rich never reads its square brackets as markup.
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def config_from(path: Path | None, *, store_only: bool = False) -> Config:
    if path is None and os.environ.get("HEARTH_CONFIG"):
        path = Path(os.environ["HEARTH_CONFIG"])
    if path is None and DEFAULT_CONFIG.exists():
        path = DEFAULT_CONFIG
    try:
        config = load_config(path, store_only=store_only)
    except ConfigError as exc:
        raise fail(f"{exc}\nHearth did not start.") from None
    configure_logging(config.hearth.log_level, config.hearth.log_format)
    return config


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(coro)
    except DatabaseUnavailable as exc:
        raise fail(str(exc), 3) from None
    except UserError as exc:
        raise fail(exc.message) from None
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
        raise fail(f"{sentence} (incident {incident})", 1) from None


async def with_hearth(config: Config, work: Callable[[Hearth], Awaitable[T]]) -> T:
    hearth = await Hearth.open(config)
    try:
        return await work(hearth)
    finally:
        await hearth.close()


async def community_of(hearth: Hearth, slug: str | None) -> CommunityInfo:
    directory: Directory = hearth.services.directory
    if slug is not None:
        found = await directory.community_by_slug(slug)
        if found is None:
            raise UserError(f"no community with slug {slug!r}")
        if "@" in found.slug:
            raise UserError(
                f"{found.slug} is a linked community of another deployment: its insights "
                "live there, so run this on that deployment"
            )
        return found
    communities = await directory.communities()
    if len(communities) != 1:
        slugs = ", ".join(c.slug for c in communities) or "none"
        raise UserError(f"say which community with --community (there are: {slugs})")
    return communities[0]


def progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    )
