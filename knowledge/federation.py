"""The federation's records: remote followers, the inbox log, and which public insights
were announced (so a withdrawal can still be told after the insight is gone); the signing
keys are in knowledge/federation_keys.py. Deliveries are queued in the same transaction as
the change they report (knowledge/federation_queue.py), so a crash between the two loses
and duplicates nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, delete, or_, select, update

from knowledge.db import Database
from knowledge.federation_queue import Delivery, digest, enqueue
from knowledge.models import (
    Community,
    FederationFollower,
    FederationInboxItem,
    FederationPublished,
    Insight,
)
from knowledge.upsert import insert_ignoring_conflict
from knowledge.vocabulary import Visibility


@dataclass(frozen=True)
class Follower:
    actor: str
    inbox: str


@dataclass(frozen=True)
class InboxItem:
    id: int
    activity_id: str
    actor: str
    community_id: int
    payload: dict[str, Any]


@dataclass(frozen=True)
class Changes:
    """A community's public insights not yet announced, announced ones edited since, and
    announced ones withdrawn."""

    new: list[int]
    edited: list[int]
    withdrawn: list[int]


Deliveries = Callable[[Sequence[Follower]], list[Delivery]]


class FederationStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    # -- followers ----------------------------------------------------------------------

    async def follow(
        self, community_id: int, follower: Follower, follow_id: str, accept: Delivery, now: datetime
    ) -> None:
        """Record the follower and queue the Accept together."""
        async with self._db.sessions.begin() as session:
            existing = await session.scalar(
                select(FederationFollower).where(
                    FederationFollower.community_id == community_id,
                    FederationFollower.actor == follower.actor,
                )
            )
            if existing is None:
                session.add(
                    FederationFollower(
                        community_id=community_id,
                        actor=follower.actor,
                        inbox=follower.inbox,
                        follow_id=follow_id,
                        created_at=now,
                    )
                )
            else:
                existing.inbox, existing.follow_id = follower.inbox, follow_id
            await enqueue(session, [accept], now)

    async def unfollow(self, community_id: int, actor: str) -> bool:
        async with self._db.sessions.begin() as session:
            result = await session.execute(
                delete(FederationFollower).where(
                    FederationFollower.community_id == community_id,
                    FederationFollower.actor == actor,
                )
            )
            return bool(getattr(result, "rowcount", 0))

    async def drop_inbox(self, community_id: int, inbox: str) -> int:
        """Followers whose inbox is gone (410) stop following."""
        async with self._db.sessions.begin() as session:
            result = await session.execute(
                delete(FederationFollower).where(
                    FederationFollower.community_id == community_id,
                    FederationFollower.inbox == inbox,
                )
            )
            return int(getattr(result, "rowcount", 0) or 0)

    async def followers(self, community_id: int) -> list[Follower]:
        async with self._db.sessions() as session:
            rows = (
                await session.execute(
                    select(FederationFollower.actor, FederationFollower.inbox)
                    .where(FederationFollower.community_id == community_id)
                    .order_by(FederationFollower.id)
                )
            ).all()
        return [Follower(actor, inbox) for actor, inbox in rows]

    async def followed(self) -> list[int]:
        """Communities with at least one remote follower."""
        async with self._db.sessions() as session:
            ids = await session.scalars(select(FederationFollower.community_id).distinct())
            return sorted(ids)

    # -- inbox log ----------------------------------------------------------------------

    async def receive(
        self,
        activity_id: str,
        actor: str,
        community_id: int,
        payload: dict[str, Any],
        now: datetime,
    ) -> bool:
        """Write a verified activity once; False when its id was seen before."""
        async with self._db.sessions.begin() as session:
            result = await session.execute(
                insert_ignoring_conflict(
                    session,
                    FederationInboxItem,
                    {
                        "activity_key": digest(activity_id),
                        "activity_id": activity_id,
                        "actor": actor,
                        "community_id": community_id,
                        "payload": payload,
                        "received_at": now,
                    },
                    ["activity_key"],
                )
            )
            return bool(getattr(result, "rowcount", 0))

    async def unhandled(self, limit: int = 32) -> list[InboxItem]:
        async with self._db.sessions() as session:
            rows = (
                await session.scalars(
                    select(FederationInboxItem)
                    .where(FederationInboxItem.handled_at.is_(None))
                    .order_by(FederationInboxItem.id)
                    .limit(limit)
                )
            ).all()
        return [
            InboxItem(r.id, r.activity_id, r.actor, r.community_id, dict(r.payload)) for r in rows
        ]

    async def handled(self, item_id: int, outcome: str, now: datetime) -> None:
        async with self._db.sessions.begin() as session:
            await session.execute(
                update(FederationInboxItem)
                .where(FederationInboxItem.id == item_id)
                .values(handled_at=now, outcome=outcome[:500])
            )

    # -- what was announced -------------------------------------------------------------

    async def changes(self, community_id: int) -> Changes:
        public = Insight.visibility == Visibility.PUBLIC.value
        async with self._db.sessions() as session:
            now_public = set(
                await session.scalars(
                    select(Insight.id).where(Insight.community_id == community_id, public)
                )
            )
            told = FederationPublished
            announced = set(
                await session.scalars(
                    select(told.insight_id).where(
                        told.community_id == community_id, told.withdrawn_at.is_(None)
                    )
                )
            )
            edited = set(
                await session.scalars(
                    select(told.insight_id)
                    .join(Insight, Insight.id == told.insight_id)
                    .where(
                        told.community_id == community_id,
                        told.withdrawn_at.is_(None),
                        public,
                        Insight.updated_at > told.insight_updated_at,
                    )
                )
            )
        return Changes(
            sorted(now_public - announced), sorted(edited), sorted(announced - now_public)
        )

    async def announce(
        self,
        community_id: int,
        insight_id: int,
        version: datetime,
        deliveries: list[Delivery],
        now: datetime,
    ) -> bool:
        """Record that followers were told of this insight as of `version` (its
        updated_at), with the deliveries that tell them (a Create or an Update). Each
        change is claimed by one conditional write, so when two processes publish the
        same change at once only one queues it; False for the other."""
        told = FederationPublished
        async with self._db.sessions.begin() as session:
            inserted = await session.execute(
                insert_ignoring_conflict(
                    session,
                    told,
                    {
                        "community_id": community_id,
                        "insight_id": insight_id,
                        "published_at": now,
                        "insight_updated_at": version,
                    },
                    ["community_id", "insight_id"],
                )
            )
            if not getattr(inserted, "rowcount", 0):
                changed = await session.execute(
                    update(told)
                    .where(
                        told.community_id == community_id,
                        told.insight_id == insight_id,
                        or_(
                            told.withdrawn_at.is_not(None),
                            told.insight_updated_at.is_(None),
                            told.insight_updated_at < version,
                        ),
                    )
                    .values(
                        withdrawn_at=None,
                        insight_updated_at=version,
                        published_at=case(
                            (told.withdrawn_at.is_not(None), now), else_=told.published_at
                        ),
                    )
                )
                if not getattr(changed, "rowcount", 0):
                    return False
            await enqueue(session, deliveries, now)
            return True

    async def withdraw(
        self, community_id: int, insight_id: int, deliveries: list[Delivery], now: datetime
    ) -> bool:
        """Record the withdrawal and queue its Delete, once (see `announce`)."""
        told = FederationPublished
        async with self._db.sessions.begin() as session:
            changed = await session.execute(
                update(told)
                .where(
                    told.community_id == community_id,
                    told.insight_id == insight_id,
                    told.withdrawn_at.is_(None),
                )
                .values(withdrawn_at=now)
            )
            if not getattr(changed, "rowcount", 0):
                return False
            await enqueue(session, deliveries, now)
            return True

    async def community_slug(self, community_id: int) -> str | None:
        async with self._db.sessions() as session:
            slug: str | None = await session.scalar(
                select(Community.slug).where(Community.id == community_id)
            )
            return slug
