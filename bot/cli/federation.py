"""`hearth federation status|retry|rotate-key`: the fediverse side from the command line.

Reads the store only (no web server, no signing library): who follows each community,
and how many deliveries are pending, delivered or parked; `retry` makes parked ones due
again, as `/relay retry` does for relays.
"""

from __future__ import annotations

from typing import Annotated

import typer

from bot.app import Hearth, open_store
from bot.cli.common import (
    ConfigOption,
    app,
    config_from,
    fail,
    out,
    run_async,
    with_hearth,
)
from knowledge.directory import Directory
from knowledge.errors import UserError
from knowledge.federation import FederationStore
from knowledge.federation_queue import DeliveryQueue

federation_app = typer.Typer(help="ActivityPub federation.", no_args_is_help=True)
app.add_typer(federation_app, name="federation")


@federation_app.command("status")
def status(config: ConfigOption = None) -> None:
    """Followers per community and the delivery queue."""
    settings = config_from(config, store_only=True)

    async def work() -> str:
        database = await open_store(settings)
        try:
            store, directory = FederationStore(database), Directory(database)
            lines = []
            for community in await directory.communities():
                followers = await store.followers(community.id)
                hosts = sorted({f.actor.split("/")[2] for f in followers if "//" in f.actor})
                shown = ", ".join(hosts[:5]) + (" …" if len(hosts) > 5 else "")
                lines.append(
                    f"{community.slug}: {len(followers)} follower(s)"
                    + (f" on {shown}" if shown else "")
                )
            remote = [f"{c.slug} ({c.name})" for c in await directory.remote_communities()]
            if remote:
                lines.append("communities of other deployments: " + ", ".join(remote))
            counts = await DeliveryQueue(database).counts()
        finally:
            await database.dispose()
        summary = ", ".join(f"{counts.get(k, 0)} {k}" for k in ("pending", "delivered", "parked"))
        return "\n".join([*lines, f"deliveries: {summary}"])

    out.print(run_async(work()), markup=False, highlight=False)


@federation_app.command("rotate-key")
def rotate_key(
    community: Annotated[str, typer.Argument(help="the community's slug")],
    config: ConfigOption = None,
) -> None:
    """A new signing key for COMMUNITY; its followers are told (an Update of the actor)."""
    settings = config_from(config)
    if not settings.web.public_url:
        raise fail("set [web] public_url: followers are told the actor's public address")

    async def work(hearth: Hearth) -> int:
        if hearth.federation is None:
            raise UserError("federation is off here ([federation] enabled = false)")
        return await hearth.federation.rotate_key(community)

    told = run_async(with_hearth(settings, work))
    out.print(
        f"{community} has a new signing key; {told} follower inbox(es) will be told by the "
        "running Hearth.",
        markup=False,
    )


@federation_app.command("retry")
def retry(config: ConfigOption = None) -> None:
    """Make parked deliveries due again (after the remote server was fixed)."""
    settings = config_from(config, store_only=True)

    async def work() -> int:
        database = await open_store(settings)
        try:
            return await DeliveryQueue(database).retry_parked()
        finally:
            await database.dispose()

    out.print(f"{run_async(work())} parked deliveries will be tried again.", markup=False)
