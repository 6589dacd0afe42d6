"""Knowledge shared across a constellation: visibility, adoption, and what follows the origin.

The rule that matters: another community sees an insight only if its own community
marked it shared (`constellation` or `public`) *and* both sides of an active, unpaused
link switched knowledge sharing on. `SharingScope` is that rule computed once per request;
every entry point (search, ask, digest, adopt) asks it rather than re-deriving it.

Kept behind one class so that a later transport between separate deployments can
implement the same operations (Hearth-to-Hearth) without touching the handlers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select, update

from knowledge.db import Database
from knowledge.errors import InvalidInput, NotAllowed, NotFound
from knowledge.insight_rows import LOAD, insight_view, origin_withdrawn, set_tags
from knowledge.insights import InsightStore
from knowledge.models import Community, Insight, Link, LinkSide, Member
from knowledge.tags import normalize_tags
from knowledge.upsert import insert_ignoring_conflict
from knowledge.views import FORGOTTEN_NAME, CaptureResult, InsightView, MemberInfo
from knowledge.vocabulary import SHARED_VISIBILITIES, LinkStatus, Visibility


@dataclass(frozen=True)
class Sibling:
    community_id: int
    slug: str
    name: str
    link_id: int


@dataclass(frozen=True)
class SharingScope:
    """Whose shared insights a community may see right now."""

    community_id: int
    siblings: tuple[Sibling, ...]

    @property
    def ids(self) -> tuple[int, ...]:
        return tuple(s.community_id for s in self.siblings)

    def name_of(self, community_id: int) -> str | None:
        return next((s.name for s in self.siblings if s.community_id == community_id), None)


@dataclass(frozen=True)
class FlowCount:
    sibling: Sibling
    shared_by_us: int
    shared_by_them: int
    adopted_by_us: int  # their insights we keep copies of
    adopted_by_them: int


VISIBILITY_CHOICES = tuple(v.value for v in Visibility)


def parse_visibility(text: str) -> Visibility:
    try:
        return Visibility(text.strip().lower())
    except ValueError:
        raise InvalidInput(
            f"“{text}” is not a visibility: use community, constellation or public."
        ) from None


class SharedKnowledge:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def scope(self, community_id: int) -> SharingScope:
        """Siblings over active, unpaused links where both sides share knowledge."""
        async with self._db.sessions() as session:
            mine = (
                select(LinkSide.link_id)
                .join(Link, Link.id == LinkSide.link_id)
                .where(
                    LinkSide.community_id == community_id,
                    LinkSide.shares_knowledge.is_(True),
                    LinkSide.paused.is_(False),
                    Link.status == LinkStatus.ACTIVE,
                )
            )
            rows = (
                await session.execute(
                    select(LinkSide.link_id, Community.id, Community.slug, Community.name)
                    .join(Community, Community.id == LinkSide.community_id)
                    .where(
                        LinkSide.link_id.in_(mine),
                        LinkSide.community_id != community_id,
                        LinkSide.shares_knowledge.is_(True),
                        LinkSide.paused.is_(False),
                    )
                    .order_by(Community.name)
                )
            ).all()
        siblings = tuple(Sibling(cid, slug, name, link_id) for link_id, cid, slug, name in rows)
        return SharingScope(community_id, siblings)

    async def set_visibility(
        self,
        community_id: int,
        insight_id: int,
        member: MemberInfo,
        visibility: Visibility,
        now: datetime,
    ) -> tuple[str, str]:
        """Returns (old, new). Un-sharing withdraws siblings' adopted copies at once."""
        async with self._db.sessions.begin() as session:
            row = await session.scalar(
                select(Insight).where(
                    Insight.id == insight_id, Insight.community_id == community_id
                )
            )
            if row is None:
                raise NotFound(f"There is no insight #{insight_id} in this community.")
            if row.origin_insight_id is not None and visibility.shared:
                raise NotAllowed(
                    f"Insight #{insight_id} was adopted from another community: only its "
                    "origin can share it further."
                )
            old = row.visibility
            row.visibility = visibility
            if visibility.shared and old not in SHARED_VISIBILITIES:
                row.shared_at = now
            if not visibility.shared and old in SHARED_VISIBILITIES:
                await session.flush()
                await origin_withdrawn(session, row.id, "un-shared")
            return old, visibility.value

    async def set_default(self, community_id: int, visibility: Visibility) -> None:
        async with self._db.sessions.begin() as session:
            await session.execute(
                update(Community)
                .where(Community.id == community_id)
                .values(default_visibility=visibility.value)
            )

    async def adopt(
        self,
        scope: SharingScope,
        curator: MemberInfo,
        origin_id: int,
        tags: tuple[str, ...],
        now: datetime,
    ) -> CaptureResult:
        """Keep our own copy of a sibling's shared insight (once), credited to the origin."""
        async with self._db.sessions.begin() as session:
            origin = await session.scalar(
                select(Insight).where(_shared(scope, *scope.ids, insight_id=origin_id))
            )
            if origin is None:  # not shared with us: say nothing about whether it exists
                raise NotFound(f"No linked community shares an insight #{origin_id} with this one.")
            author = await session.scalar(
                select(Member).where(Member.id == origin.author_member_id)
            )
            author_name = (
                FORGOTTEN_NAME if author is None or author.forgotten_at else author.display_name
            )
            # an insight of another deployment carries its credit ("ann (forge@host)")
            credit = origin.origin_credit or f"{author_name} ({scope.name_of(origin.community_id)})"
            new_id = await session.scalar(
                insert_ignoring_conflict(
                    session,
                    Insight,
                    {
                        "community_id": scope.community_id,
                        "source_id": origin.source_id,
                        "title": origin.title,
                        "body": origin.body,
                        "curator_member_id": curator.id,
                        "created_at": now,
                        "updated_at": now,
                        "visibility": Visibility.COMMUNITY.value,
                        "origin_insight_id": origin.id,
                        "origin_community_id": origin.community_id,
                        "origin_credit": credit[:300],
                    },
                    ["community_id", "source_id"],
                ).returning(Insight.id)
            )
            created = new_id is not None
            if new_id is None:
                new_id = await session.scalar(
                    select(Insight.id).where(
                        Insight.community_id == scope.community_id,
                        Insight.source_id == origin.source_id,
                    )
                )
                assert new_id is not None
            elif tags:
                await set_tags(
                    session, scope.community_id, new_id, normalize_tags(tags), fresh=True
                )
        store = InsightStore(self._db)
        return CaptureResult(await store.get(scope.community_id, new_id), created)

    async def shared_since(
        self, scope: SharingScope, moment: datetime, limit: int = 50
    ) -> list[tuple[str, InsightView]]:
        """Siblings' insights shared at or after `moment` (for digests), oldest first."""
        if not scope.siblings:
            return []
        async with self._db.sessions() as session:
            rows = await session.scalars(
                select(Insight)
                .options(*LOAD)
                .where(_shared(scope, *scope.ids), Insight.shared_at >= moment)
                .order_by(Insight.shared_at, Insight.id)
                .limit(limit)
            )
            return [(scope.name_of(r.community_id) or "", insight_view(r)) for r in rows]

    async def shared_insight(
        self, scope: SharingScope, community_id: int, insight_id: int
    ) -> InsightView | None:
        """A sibling's insight as the scope's community may see it (shared by its own
        community, not itself a copy), or None: whether it exists is not said."""
        if community_id not in scope.ids:
            return None
        async with self._db.sessions() as session:
            row = await session.scalar(
                select(Insight)
                .options(*LOAD)
                .where(_shared(scope, community_id, insight_id=insight_id))
            )
            return None if row is None else insight_view(row)

    async def shared_recent(
        self, scope: SharingScope, community_id: int | None = None, limit: int = 10
    ) -> list[tuple[Sibling, InsightView]]:
        """The newest insights siblings share with the scope's community (of one sibling
        when `community_id` is given), newest first."""
        ids = scope.ids if community_id is None else (community_id,)
        if not set(ids) & set(scope.ids):
            return []
        async with self._db.sessions() as session:
            rows = await session.scalars(
                select(Insight)
                .options(*LOAD)
                .where(_shared(scope, *ids))
                .order_by(Insight.created_at.desc(), Insight.id.desc())
                .limit(limit)
            )
            by_id = {s.community_id: s for s in scope.siblings}
            return [(by_id[r.community_id], insight_view(r)) for r in rows]

    async def flows(self, scope: SharingScope) -> list[FlowCount]:
        """Per sibling: what each side shares, and what each side adopted from the other."""
        everyone = (scope.community_id, *scope.ids)
        async with self._db.sessions() as session:
            shared = dict(
                (
                    await session.execute(
                        select(Insight.community_id, func.count())
                        .where(
                            Insight.community_id.in_(everyone),
                            Insight.visibility.in_(SHARED_VISIBILITIES),
                            Insight.origin_insight_id.is_(None),
                        )
                        .group_by(Insight.community_id)
                    )
                ).all()
            )
            adopted = {
                (holder, origin): count
                for holder, origin, count in (
                    await session.execute(
                        select(Insight.community_id, Insight.origin_community_id, func.count())
                        .where(
                            Insight.community_id.in_(everyone),
                            Insight.origin_community_id.in_(everyone),
                        )
                        .group_by(Insight.community_id, Insight.origin_community_id)
                    )
                ).all()
            }
        us = scope.community_id
        return [
            FlowCount(
                sibling,
                shared.get(us, 0),
                shared.get(sibling.community_id, 0),
                adopted.get((us, sibling.community_id), 0),
                adopted.get((sibling.community_id, us), 0),
            )
            for sibling in scope.siblings
        ]


def _shared(scope: SharingScope, *community_ids: int, insight_id: int | None = None) -> Any:
    """Insights of `community_ids` that the scope's community may see: siblings' own
    insights they marked shared (their adopted copies are not theirs to pass on)."""
    clause = and_(
        Insight.community_id.in_([c for c in community_ids if c in scope.ids]),
        Insight.visibility.in_(SHARED_VISIBILITIES),
        Insight.origin_insight_id.is_(None),
    )
    return clause if insight_id is None else and_(clause, Insight.id == insight_id)
