"""Prometheus metrics, one registry per Hearth process (no module-level collectors).

Counters and histograms are updated where things happen; gauges that describe the store
(outbox depth, parked items, oldest age) are read from the database at scrape time, so
every instance behind one database reports the same truth.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
LATENESS_BUCKETS = (0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)

Refresher = Callable[["Metrics"], Awaitable[None]]


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    _refreshers: list[Refresher] = field(default_factory=list)

    def __post_init__(self) -> None:
        r = self.registry
        self.inbound_events = Counter(
            "hearth_inbound_events_total",
            "Platform events that reached the core, by platform and kind.",
            ["platform", "kind"],
            registry=r,
        )
        self.commands = Counter(
            "hearth_commands_total",
            "Commands handled, by command and outcome (ok, refused, failed, duplicate).",
            ["command", "outcome"],
            registry=r,
        )
        self.command_seconds = Histogram(
            "hearth_command_duration_seconds",
            "Time from a command reaching the core to its reply being ready.",
            ["command"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.outbox_depth = Gauge(
            "hearth_relay_outbox_depth",
            "Relay outbox items waiting to be delivered, per link.",
            ["link"],
            registry=r,
        )
        self.outbox_parked = Gauge(
            "hearth_relay_outbox_parked",
            "Relay outbox items parked after repeated failures, per link.",
            ["link"],
            registry=r,
        )
        self.outbox_oldest = Gauge(
            "hearth_relay_outbox_oldest_age_seconds",
            "Age of the oldest undelivered relay item, per link (0 when none).",
            ["link"],
            registry=r,
        )
        self.relay_deliveries = Counter(
            "hearth_relay_deliveries_total",
            "Relay outbox items settled, by target platform and outcome.",
            ["platform", "outcome"],
            registry=r,
        )
        self.relay_delivery_seconds = Histogram(
            "hearth_relay_delivery_seconds",
            "Time from a relayed message being queued to its copy being posted.",
            ["platform"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.federation_deliveries = Counter(
            "hearth_federation_deliveries_total",
            "ActivityPub deliveries to remote inboxes, by outcome (delivered, retry, parked, "
            "gone).",
            ["outcome"],
            registry=r,
        )
        self.federation_inbox = Counter(
            "hearth_federation_inbox_total",
            "ActivityPub inbox POSTs, by answer (accepted, duplicate, refused).",
            ["outcome"],
            registry=r,
        )
        self.ritual_rounds = Counter(
            "hearth_ritual_rounds_total",
            "Ritual rounds by outcome (opened, late, missed, failed).",
            ["outcome"],
            registry=r,
        )
        self.ritual_lateness_seconds = Histogram(
            "hearth_ritual_firing_lateness_seconds",
            "How long after its scheduled time a round opened.",
            buckets=LATENESS_BUCKETS,
            registry=r,
        )
        self.matrix_sync_lag = Gauge(
            "hearth_matrix_sync_lag_seconds",
            "Seconds since the Matrix sync loop last completed a sync.",
            registry=r,
        )
        self.assist_calls = Counter(
            "hearth_assist_calls_total",
            "Calls to the language model endpoint, by purpose and outcome.",
            ["purpose", "outcome"],
            registry=r,
        )
        self.assist_tokens = Counter(
            "hearth_assist_tokens_total",
            "Tokens the endpoint reported, by kind (prompt, completion).",
            ["kind"],
            registry=r,
        )
        self.db_pool_in_use = Gauge(
            "hearth_database_connections_in_use",
            "Database connections checked out of this process's pool.",
            registry=r,
        )

    def on_scrape(self, refresh: Refresher) -> None:
        """Run `refresh` before each scrape (gauges read from the store)."""
        self._refreshers.append(refresh)

    async def render(self) -> tuple[bytes, str]:
        for refresh in self._refreshers:
            await refresh(self)
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
