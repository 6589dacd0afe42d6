"""The garden's map: which communities publish, and the constellation graph between them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from knowledge.garden_rows import (
    PUBLIC,
    ConstellationEdge,
    GardenTables,
    PublicCommunity,
    is_public,
)
from knowledge.models import (
    ChannelBinding,
    Community,
    Insight,
    Link,
    LinkSide,
    RelayParticipant,
)
from knowledge.vocabulary import LinkStatus


def publishes() -> Any:
    """The community has a public insight: one index probe. A scalar subquery with LIMIT
    1, not EXISTS: PostgreSQL turned EXISTS into a semi-join that hashed every public
    insight (170 ms at 100k, bench/README.md)."""
    first = (
        select(Insight.id)
        .where(Insight.community_id == Community.id, is_public())
        .limit(1)
        .scalar_subquery()
    )
    return first.is_not(None)


class GardenGraph(GardenTables):
    """Which communities publish and how they are linked."""

    # -- communities and the constellation --------------------------------------------------

    async def communities(self) -> list[PublicCommunity]:
        """Communities with at least one public insight, largest first."""
        return await self._communities()

    async def publishing(self) -> list[PublicCommunity]:
        """Communities with a public insight, by name; presence only (one index seek per
        community), counts left at 0. For the search form and the graph's exact set."""
        async with self._db.sessions() as session:
            rows = (
                await session.execute(
                    select(Community.id, Community.slug, Community.name)
                    .where(publishes())
                    .order_by(Community.name)
                )
            ).all()
        return [PublicCommunity(cid, slug, name, 0, (), None) for cid, slug, name in rows]

    async def community(self, slug: str) -> PublicCommunity | None:
        """The community if it publishes anything. Cheap (index seeks, no count): every
        page under /c/<slug>/ asks; `public_insights` is filled by `count` where shown."""
        async with self._db.sessions() as session:
            row = (
                await session.execute(
                    select(Community.id, Community.slug, Community.name).where(
                        Community.slug == slug, publishes()
                    )
                )
            ).one_or_none()
            if row is None:
                return None
            platforms = tuple(
                sorted(
                    await session.scalars(
                        select(ChannelBinding.platform)
                        .where(ChannelBinding.community_id == row[0])
                        .distinct()
                    )
                )
            )
        return PublicCommunity(row[0], row[1], row[2], 0, platforms, None)

    async def _communities(self) -> list[PublicCommunity]:
        counts = (
            select(
                Insight.community_id,
                func.count(Insight.id).label("n"),
                func.max(Insight.updated_at).label("updated"),
            )
            .where(is_public())
            .group_by(Insight.community_id)
            .subquery()
        )
        statement = (
            select(Community.id, Community.slug, Community.name, counts.c.n, counts.c.updated)
            .join(counts, counts.c.community_id == Community.id)
            .order_by(counts.c.n.desc(), Community.name)
        )
        async with self._db.sessions() as session:
            rows = (await session.execute(statement)).all()
            ids = [row[0] for row in rows]
            platforms: dict[int, set[str]] = {}
            for community_id, platform in (
                await session.execute(
                    select(ChannelBinding.community_id, ChannelBinding.platform)
                    .where(ChannelBinding.community_id.in_(ids))
                    .distinct()
                )
            ).all():
                platforms.setdefault(community_id, set()).add(platform)
        return [
            PublicCommunity(
                cid, cslug, name, int(n), tuple(sorted(platforms.get(cid, ()))), updated
            )
            for cid, cslug, name, n, updated in rows
        ]

    async def edges(self, community_ids: Sequence[int]) -> list[ConstellationEdge]:
        """Between the given (publishing) communities: threads relayed between them and
        copies of public insights one adopted from the other; active links with neither
        still count as an edge of weight zero."""
        ids = list(community_ids)
        if len(ids) < 2:
            return []
        one, two = aliased(RelayParticipant), aliased(RelayParticipant)
        origin = aliased(Insight)
        side_a, side_b = aliased(LinkSide), aliased(LinkSide)
        async with self._db.sessions() as session:
            relayed = (
                await session.execute(
                    select(
                        one.community_id,
                        two.community_id,
                        func.count(func.distinct(one.relay_thread_id)),
                    )
                    .join(two, two.relay_thread_id == one.relay_thread_id)
                    .where(
                        one.community_id < two.community_id,
                        one.community_id.in_(ids),
                        two.community_id.in_(ids),
                    )
                    .group_by(one.community_id, two.community_id)
                )
            ).all()
            adopted = (
                await session.execute(
                    select(Insight.community_id, origin.community_id, func.count(Insight.id))
                    .join(origin, origin.id == Insight.origin_insight_id)
                    .where(
                        origin.visibility == PUBLIC,
                        Insight.community_id.in_(ids),
                        origin.community_id.in_(ids),
                    )
                    .group_by(Insight.community_id, origin.community_id)
                )
            ).all()
            linked = (
                await session.execute(
                    select(side_a.community_id, side_b.community_id)
                    .join(side_b, side_b.link_id == side_a.link_id)
                    .join(Link, Link.id == side_a.link_id)
                    .where(
                        Link.status == LinkStatus.ACTIVE,
                        side_a.community_id < side_b.community_id,
                        side_a.community_id.in_(ids),
                        side_b.community_id.in_(ids),
                    )
                    .distinct()
                )
            ).all()
        weights: dict[tuple[int, int], list[int]] = {}
        for a, b in linked:
            weights.setdefault((a, b), [0, 0])
        for a, b, n in relayed:
            weights.setdefault((a, b), [0, 0])[0] += int(n)
        for holder, source, n in adopted:
            key = (min(holder, source), max(holder, source))
            weights.setdefault(key, [0, 0])[1] += int(n)
        return [ConstellationEdge(a, b, r, d) for (a, b), (r, d) in sorted(weights.items())]
