"""Setting Hearth up: `init`, `check-config`, `healthcheck`, `db upgrade`, and the
platforms' own setup (`slack manifest`, `discord invite`, `discord sync-commands`)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated

import typer

from bot.app import open_store
from bot.cli.common import (
    DEFAULT_CONFIG,
    ConfigOption,
    app,
    config_from,
    db_app,
    discord_app,
    fail,
    out,
    run_async,
    slack_app,
)
from bot.cli.running import local_embedder
from knowledge.errors import UserError


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the config")] = DEFAULT_CONFIG,
    force: Annotated[bool, typer.Option(help="Overwrite an existing file")] = False,
) -> None:
    """Write a starter config with every key documented."""
    if path.exists() and not force:
        raise fail(f"{path} already exists; use --force to overwrite it")
    text = resources.files("bot").joinpath("config.example.toml").read_text(encoding="utf-8")
    path.write_text(text, encoding="utf-8")
    out.print(
        f"Wrote {path}. Edit it, then: hearth check-config {path}",
        highlight=False,
        markup=False,
    )


@app.command("check-config")
def checkconfig_from(
    path: Annotated[
        Path | None, typer.Argument(help="Config file (same as --config)", show_default=False)
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Validate the config (and its environment variables) without starting anything."""
    if path is not None and config is not None and path != config:
        raise fail(f"two config files given ({path} and --config {config}): give one")
    settings = config_from(path or config)
    if settings.assist.semantic_search:  # prove the model loads: OK must mean it will run
        try:
            local_embedder(settings, load_now=True)
        except UserError as exc:
            raise fail(exc.message) from None
    adapters = [name for name, section in settings.adapters if getattr(section, "enabled", False)]
    if "matrix" in adapters:
        from adapters.matrix.e2e import missing_extra

        note = missing_extra(settings.adapters.matrix)
        if note is not None:
            out.print(f"Note: {note}", highlight=False, markup=False)
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

    typer.echo(manifest_yaml(config_from(config).adapters.slack))  # raw: YAML must not wrap


@slack_app.command("token-key")
def slack_token_key() -> None:
    """Print a new key for `token_key` (OAuth): put it in HEARTH_SLACK_TOKEN_KEY, keep it
    secret, and keep it: the workspaces' tokens in the database are sealed with it."""
    from cryptography.fernet import Fernet

    typer.echo(Fernet.generate_key().decode())


@discord_app.command("invite")
def discord_invite(config: ConfigOption = None) -> None:
    """Print the invite URL: exactly the permissions and scopes Hearth needs."""
    from adapters.discord_gateway.admin import invite_url

    application_id = config_from(config).adapters.discord.application_id
    if application_id is None:
        raise fail("set [adapters.discord] application_id (from the developer portal) first")
    typer.echo(invite_url(application_id))
    typer.echo("Enable the Message Content intent for the bot in the developer portal.")


@discord_app.command("sync-commands")
def discord_sync_commands(config: ConfigOption = None) -> None:
    """Register the slash commands and the message menu (dev guilds if set, else global)."""
    from adapters.discord_gateway.admin import sync_commands
    from bot.commands.table import build_command_table

    settings = config_from(config).adapters.discord
    if not settings.token or settings.application_id is None:
        raise fail("[adapters.discord] needs token and application_id to sync commands")
    for scope in run_async(sync_commands(settings, build_command_table())):
        out.print(f"synced: {scope}", highlight=False, markup=False)


@app.command()
def healthcheck(config: ConfigOption = None) -> None:
    """Exit 0 if this machine's Hearth answers /healthz (for Docker's HEALTHCHECK).

    With [web] off there is nothing to ask: it says so and exits 0.
    """
    import urllib.error
    import urllib.request

    address = config_from(config).web.address()
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
        raise fail(f"{url} does not answer ({exc})", 1) from None
    if status != 200:
        raise fail(f"{url} answered {status}", 1)
    out.print(f"{url}: alive")


@db_app.command("upgrade")
def db_upgrade(config: ConfigOption = None) -> None:
    """Bring the database schema up to date (creates it if empty)."""
    settings = config_from(config).model_copy(
        update={"hearth": config_from(config).hearth.model_copy(update={"auto_migrate": True})}
    )

    async def main() -> str | None:
        from knowledge import migrate

        database = await open_store(settings)
        try:
            return await migrate.current_revision(database)
        finally:
            await database.dispose()

    out.print(f"Database is at schema revision {run_async(main())} (head).", markup=False)
