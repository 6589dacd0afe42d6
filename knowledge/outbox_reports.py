"""What the outbox shows: per-lane health for `/relay status`, per-link backlog for /metrics.

Read-only counts over the outbox, apart from the claiming and settling that deliver it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from knowledge.models import FederatedLink, FederationDelivery, OutboxItem, RelayParticipant
from knowledge.relay_rows import RelayTables
from knowledge.vocabulary import OutboxStatus


@dataclass(frozen=True)
class LaneHealth:
    link_id: int | None
    participant_id: int
    platform: str
    channel: str
    pending: int
    delivered: int
    parked: int
    failed: int
    last_error: str | None
    waiting_since: datetime | None = None  # when its oldest pending item was queued


@dataclass(frozen=True)
class LinkBacklog:
    """What waits on one link, for /metrics."""

    link_id: int
    pending: int
    parked: int
    oldest_age_seconds: float  # of the oldest pending or parked item; 0 when none


@dataclass(frozen=True)
class LinkDeliveries:
    """A link across deployments: its own signed activities to the other side (Follow,
    Accept, Undo, and what is shared there) by status, from the federation queue."""

    link_id: int
    pending: int
    delivered: int
    parked: int


class OutboxReports(RelayTables):
    async def link_deliveries(self, link_ids: list[int]) -> dict[int, LinkDeliveries]:
        """Per link across deployments, the queued activities to the linked actor's inbox,
        signed by this side's community."""
        if not link_ids:
            return {}
        row = FederationDelivery
        async with self._db.sessions() as session:
            rows = (
                await session.execute(
                    select(FederatedLink.link_id, row.status, func.count())
                    .join(
                        row,
                        (row.community_id == FederatedLink.local_community_id)
                        & (row.inbox == FederatedLink.remote_inbox),
                    )
                    .where(FederatedLink.link_id.in_(link_ids))
                    .group_by(FederatedLink.link_id, row.status)
                )
            ).all()
        found: dict[int, dict[str, int]] = {}
        for link_id, status, count in rows:
            counts = found.setdefault(int(link_id), {})
            counts[str(status)] = counts.get(str(status), 0) + int(count)
        return {
            link_id: LinkDeliveries(
                link_id,
                counts.get("pending", 0),
                counts.get("delivered", 0),
                counts.get("parked", 0),
            )
            for link_id, counts in found.items()
        }

    async def health(self, link_ids: list[int]) -> list[LaneHealth]:
        """Per link and target channel: counts by status and the latest error."""
        if not link_ids:
            return []
        async with self._db.sessions() as session:
            rows = (
                await session.execute(
                    select(
                        OutboxItem.link_id,
                        OutboxItem.participant_id,
                        RelayParticipant.platform,
                        RelayParticipant.channel,
                        OutboxItem.status,
                        func.count(),
                        func.min(OutboxItem.created_at),
                    )
                    .join(RelayParticipant, RelayParticipant.id == OutboxItem.participant_id)
                    .where(OutboxItem.link_id.in_(link_ids))
                    .group_by(
                        OutboxItem.link_id,
                        OutboxItem.participant_id,
                        RelayParticipant.platform,
                        RelayParticipant.channel,
                        OutboxItem.status,
                    )
                )
            ).all()
            errors = dict(
                (
                    await session.execute(
                        select(OutboxItem.participant_id, OutboxItem.last_error)
                        .where(
                            OutboxItem.link_id.in_(link_ids),
                            OutboxItem.last_error.is_not(None),
                            OutboxItem.status.in_(
                                [OutboxStatus.PENDING, OutboxStatus.PARKED, OutboxStatus.FAILED]
                            ),
                        )
                        .order_by(OutboxItem.id)
                    )
                ).all()
            )
        lanes: dict[tuple[int | None, int], dict[str, Any]] = {}
        for link_id, participant_id, platform, channel, status, count, oldest in rows:
            lane = lanes.setdefault(
                (link_id, participant_id),
                {
                    "platform": platform,
                    "channel": channel,
                    "since": None,
                    **{s.value: 0 for s in OutboxStatus},
                },
            )
            lane[OutboxStatus(status).value] += count
            if OutboxStatus(status) is OutboxStatus.PENDING and oldest is not None:
                lane["since"] = _aware(oldest)
        return [
            LaneHealth(
                link_id,
                participant_id,
                lane["platform"],
                lane["channel"],
                lane["pending"],
                lane["delivered"],
                lane["parked"],
                lane["failed"],
                errors.get(participant_id),
                lane["since"],
            )
            for (link_id, participant_id), lane in sorted(
                lanes.items(), key=lambda kv: (kv[0][0] or 0, kv[0][1])
            )
        ]

    async def backlog(self, now: datetime) -> list[LinkBacklog]:
        """Pending and parked items per link, with the age of the oldest (one query)."""
        async with self._db.sessions() as session:
            rows = (
                await session.execute(
                    select(
                        OutboxItem.link_id,
                        OutboxItem.status,
                        func.count(),
                        func.min(OutboxItem.created_at),
                    )
                    .where(
                        OutboxItem.link_id.is_not(None),
                        OutboxItem.status.in_([OutboxStatus.PENDING, OutboxStatus.PARKED]),
                    )
                    .group_by(OutboxItem.link_id, OutboxItem.status)
                )
            ).all()
        found: dict[int, list[Any]] = {}
        for link_id, status, count, oldest in rows:
            if link_id is None:
                continue
            entry = found.setdefault(int(link_id), [0, 0, None])
            entry[0 if OutboxStatus(status) is OutboxStatus.PENDING else 1] += int(count)
            if oldest is not None and (entry[2] is None or oldest < entry[2]):
                entry[2] = oldest
        return [
            LinkBacklog(
                link_id,
                pending,
                parked,
                0.0 if oldest is None else max(0.0, (now - _aware(oldest)).total_seconds()),
            )
            for link_id, (pending, parked, oldest) in sorted(found.items())
        ]


def _aware(moment: datetime) -> datetime:
    """func.min bypasses the column type on SQLite: give a naive UTC value its zone."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
