"""`hearth federation status|retry`: the fediverse deliveries from the command line.

Reads the store only (no web server, no signing library): who follows each community,
and how many deliveries are pending, delivered or parked; `retry` makes parked ones due
again, as `/relay retry` does for relays.
"""

from __future__ import annotations

import typer

from bot.app import open_store
from bot.cli.common import ConfigOption, app, config_from, out, run_async
from knowledge.directory import Directory
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
            counts = await DeliveryQueue(database).counts()
        finally:
            await database.dispose()
        summary = ", ".join(f"{counts.get(k, 0)} {k}" for k in ("pending", "delivered", "parked"))
        return "\n".join([*lines, f"deliveries: {summary}"])

    out.print(run_async(work()), markup=False, highlight=False)


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
