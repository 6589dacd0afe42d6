"""The garden's records and the filters every garden query shares.

Frozen dataclasses (a community, an edge of the constellation, an insight as a card or
a page), the `public` restriction, and `cards`, which the listings, the insight page and
search all build on; so they live apart from any of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import aliased

from knowledge.db import Database
from knowledge.models import (
    Insight,
    InsightTag,
    Member,
    Tag,
)
from knowledge.search import SearchBackend
from knowledge.views import FORGOTTEN_NAME
from knowledge.vocabulary import Visibility

PUBLIC = Visibility.PUBLIC.value
SITEMAP_LIMIT = 50_000  # URLs in one sitemap file (sitemaps.org)


def is_public() -> Any:
    """The restriction every garden query applies to insights."""
    return Insight.visibility == PUBLIC


@dataclass(frozen=True)
class PublicCommunity:
    id: int
    slug: str
    name: str
    public_insights: int
    platforms: tuple[str, ...]
    updated_at: datetime | None  # the newest change among its public insights


@dataclass(frozen=True)
class ConstellationEdge:
    a: int  # community ids, a < b
    b: int
    relayed_threads: int
    adopted: int  # copies of public insights, either way


@dataclass(frozen=True)
class InsightCard:
    """An insight as listed: enough for a card, a feed entry or a sitemap line."""

    id: int
    community_id: int
    title: str | None
    body: str
    tags: tuple[str, ...]
    author_name: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class CommunityRef:
    slug: str
    name: str


@dataclass(frozen=True)
class PublicInsight:
    card: InsightCard
    source_platform: str
    source_deleted: bool
    revisions: int
    adopted_by: tuple[CommunityRef, ...]  # publishing communities that keep a copy
    adopted_elsewhere: int  # copies kept by communities that publish nothing
    adopted_from: tuple[CommunityRef, int] | None  # the public origin of a copy


@dataclass(frozen=True)
class RitualSummary:
    name: str
    kind: str
    schedule: str
    participants: int  # distinct people who answered in the last 8 weeks
    rounds: int  # rounds closed in the last 8 weeks


@dataclass(frozen=True)
class SitemapEntry:
    slug: str
    insight_id: int
    updated_at: datetime


class GardenTables:
    """A store over the garden's tables: the parts share one database and search."""

    def __init__(self, database: Database, search: SearchBackend) -> None:
        self._db = database
        self._search = search

    async def cards(self, ids: Sequence[int]) -> list[InsightCard]:
        """The public ones among `ids`, in the order given."""
        if not ids:
            return []
        author = aliased(Member)
        async with self._db.sessions() as session:
            rows = (
                await session.execute(
                    select(
                        Insight.id,
                        Insight.community_id,
                        Insight.title,
                        Insight.body,
                        Insight.origin_credit,
                        author.display_name,
                        author.forgotten_at,
                        Insight.created_at,
                        Insight.updated_at,
                    )
                    .outerjoin(author, author.id == Insight.author_member_id)
                    .where(Insight.id.in_(list(ids)), is_public())
                )
            ).all()
            tags = await tags_of(session, [row[0] for row in rows])
        found = {
            iid: InsightCard(
                iid,
                cid,
                title,
                body,
                tuple(tags.get(iid, ())),
                credit or (FORGOTTEN_NAME if forgotten or name is None else name),
                created,
                updated,
            )
            for iid, cid, title, body, credit, name, forgotten, created, updated in rows
        }
        return [found[i] for i in ids if i in found]


def tagged(tag: str) -> Any:
    return (
        select(InsightTag.insight_id)
        .join(Tag, Tag.id == InsightTag.tag_id)
        .where(
            InsightTag.insight_id == Insight.id,
            Tag.name == tag,
            Tag.community_id == Insight.community_id,
        )
        .exists()
    )


async def tags_of(session: Any, ids: Sequence[int]) -> dict[int, list[str]]:
    tags: dict[int, list[str]] = {}
    if not ids:
        return tags
    rows = await session.execute(
        select(InsightTag.insight_id, Tag.name)
        .join(Tag, Tag.id == InsightTag.tag_id)
        .where(InsightTag.insight_id.in_(list(ids)))
        .order_by(Tag.name)
    )
    for insight_id, name in rows.all():
        tags.setdefault(insight_id, []).append(name)
    return tags
