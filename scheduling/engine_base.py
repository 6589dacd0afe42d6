"""What every part of the ritual engine shares: its collaborators, and how a ritual maps
to its schedule, its channel and its platform's port.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Protocol

from bot.events import ChannelRef
from bot.ops.metrics import Metrics
from bot.port import OutboundPort, Transient
from knowledge.insights import InsightStore
from knowledge.rituals import RitualStore, RitualView
from knowledge.views import InsightView
from scheduling.schedule import Schedule


class Scheduled(Protocol):
    """What a schedule is made of (a saved ritual, or one still being previewed)."""

    @property
    def cron(self) -> str: ...
    @property
    def timezone(self) -> str: ...
    @property
    def every_weeks(self) -> int: ...
    @property
    def anchor(self) -> str | None: ...
    @property
    def schedule_text(self) -> str: ...


def schedule_of(ritual: Scheduled) -> Schedule:
    return Schedule(
        cron=ritual.cron,
        timezone=ritual.timezone,
        every_weeks=ritual.every_weeks,
        anchor=date.fromisoformat(ritual.anchor) if ritual.anchor else None,
        description=ritual.schedule_text,
    )


def channel_of(ritual: RitualView) -> ChannelRef:
    return ChannelRef(ritual.platform, ritual.space, ritual.channel)


class Unknown:
    """Marks an argument the caller did not supply (None is a meaningful value)."""


UNKNOWN = Unknown()

Narrator = Callable[[int, str, list[str]], Awaitable[str | None]]
"""(community id, ritual name, texts) -> a short narrative paragraph, or None."""

JointNarrator = Callable[[Sequence[int], str, list[str]], Awaitable[str | None]]
"""(communities taking part, ritual name, texts) -> a narrative, only when every one of
them opted in to assist; else None."""

ConstellationNews = Callable[[int, datetime], Awaitable[list[tuple[str, InsightView]]]]
"""(community id, since) -> siblings' insights shared since then, as (community, insight)."""


class EngineBase:
    """The engine's collaborators (store, insights, ports, grace, metrics, assist hooks)."""

    def __init__(
        self,
        store: RitualStore,
        insights: InsightStore,
        ports: Mapping[str, OutboundPort],
        grace: timedelta,
        metrics: Metrics,
        *,
        narrator: Narrator | None = None,
        constellation_news: ConstellationNews | None = None,
        joint_narrator: JointNarrator | None = None,
    ) -> None:
        """`narrator`: syntheses told as a story (assist); `constellation_news`: siblings'
        newly shared insights, for digests."""
        self._metrics = metrics
        self._store = store
        self._insights = insights
        self._ports = ports
        self._grace = grace
        self._narrator = narrator
        self._constellation_news = constellation_news
        self._joint_narrator = joint_narrator

    def port_for(self, ritual: RitualView) -> OutboundPort:
        port = self._ports.get(ritual.platform)
        if port is None:
            raise Transient(f"no {ritual.platform} adapter is running")
        return port
