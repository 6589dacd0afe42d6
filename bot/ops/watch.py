"""What the ops server watches: the database, each adapter, the relay outbox."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from bot.adapter import Adapter
from bot.ops.metrics import Metrics
from bot.ops.server import OpsServer
from knowledge.clock import Clock
from knowledge.db import Database
from knowledge.outbox import Outbox


@runtime_checkable
class SyncsWithServer(Protocol):
    """An adapter that long-polls its server (Matrix) and can say how long ago it synced."""

    def sync_lag(self) -> float | None: ...


def watch(
    server: OpsServer,
    metrics: Metrics,
    database: Database,
    outbox: Outbox,
    clock: Clock,
    adapters: Sequence[Adapter],
) -> None:
    async def database_ready() -> str | None:
        await database.ping()
        return None

    server.probe("database", database_ready)
    for adapter in adapters:
        server.probe(adapter.platform, adapter.readiness)

    async def refresh(m: Metrics) -> None:
        m.db_pool_in_use.set(database.connections_in_use())
        for gauge in (m.outbox_depth, m.outbox_parked, m.outbox_oldest):
            gauge.clear()  # a link whose backlog emptied must not keep its last value
        for lane in await outbox.backlog(clock.now()):
            label = str(lane.link_id)
            m.outbox_depth.labels(label).set(lane.pending)
            m.outbox_parked.labels(label).set(lane.parked)
            m.outbox_oldest.labels(label).set(lane.oldest_age_seconds)
        for adapter in adapters:
            if isinstance(adapter, SyncsWithServer):
                lag = adapter.sync_lag()
                if lag is not None:
                    m.matrix_sync_lag.set(lag)

    metrics.on_scrape(refresh)
