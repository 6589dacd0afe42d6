"""The part of a search both backends share: filters, paging, turning rows into hits."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import replace
from typing import Any

from sqlalchemy import Select, and_, exists, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from knowledge.db import Database
from knowledge.models import Identity, Insight, InsightTag, Member, Source, Tag
from knowledge.search import SearchHit, SearchPage
from knowledge.search.query import SearchQuery
from knowledge.views import FORGOTTEN_NAME
from knowledge.vocabulary import SHARED_VISIBILITIES, Visibility

SNIPPET_CHARS = 200
COUNT_CAP = 1000  # past this many matches a search says "1000+" (counting on costs O(N))
# The any-word fallback ranks its newest RELAXED_DEPTH matches, not all: "any of five
# words" can match half the insights, and ranking all of them cost 40 ms at p95 at 100k
# (bench/hybrid_search.py) where a page needs ten. Every-word matches are all ranked.
RELAXED_DEPTH = 1000


class RankedSearch(ABC):
    def __init__(self, database: Database) -> None:
        self._db = database

    @abstractmethod
    def _counted(self, base: Select[Any], query: SearchQuery) -> Select[Any]:
        """`base` restricted to the terms, shaped for a fast count of all matches."""

    @abstractmethod
    def _ranked(self, base: Select[Any], query: SearchQuery) -> tuple[Select[Any], Any]:
        """(the matches as (id, rank) with rank labelled "rank", lower is better; a snippet
        over `Insight` for the page's rows)."""

    async def search(self, query: SearchQuery) -> SearchPage:
        """Every word first; if that finds less than a page, any of the (content) words,
        ranked by relevance (bm25 / ts_rank), so the best-covered insights lead."""
        async with self._db.sessions() as session:  # one session for both tries
            page = await self._search(session, query)
            if (
                page.total < query.limit
                and not (query.match_any or query.relaxed)
                and query.terms.relaxable
            ):
                wider = await self._search(session, replace(query, relaxed=True))
                if wider.total > page.total:
                    return replace(wider, relaxed=True)
        return page

    async def search_exact(self, query: SearchQuery) -> SearchPage:
        """Only what `query` says (no any-word fallback)."""
        async with self._db.sessions() as session:
            return await self._search(session, query)

    async def _search(self, session: AsyncSession, query: SearchQuery) -> SearchPage:
        """Two statements: the count (capped), then the page with its tags."""
        # PostgreSQL's (SQLite searches in sqlite_fts.py): its dialect loads when used
        from sqlalchemy.dialects.postgresql import aggregate_order_by

        base = select(Insight.id).where(in_scope(query))
        base = _filtered(base, query)
        if query.terms.empty:
            counted = base
            ranked = base.add_columns((-Insight.id).label("rank"))
            snippet: Any = func.substr(Insight.body, 1, SNIPPET_CHARS)
        else:
            counted = self._counted(base, query)
            ranked, snippet = self._ranked(base, query)
        # The page's ids first (ranked without joins), then its ten rows joined and
        # given snippets: the joins and ts_headline run for the page only. The count
        # rides along as a window over the same matches (one scan, not two).
        ranked = ranked.add_columns(func.count().over().label("total"))
        columns = ranked.selected_columns
        page = (
            ranked.order_by(columns.rank, columns.id.desc())
            .limit(query.limit)
            .offset(query.offset)
            .subquery("page")
        )
        author = aliased(Member)
        tag_names = (
            select(func.array_agg(aggregate_order_by(Tag.name, Tag.name)))
            .join_from(InsightTag, Tag, Tag.id == InsightTag.tag_id)
            .where(InsightTag.insight_id == page.c.id)
            .scalar_subquery()
        )
        listing = (
            select(
                page.c.id,
                snippet,
                Insight.title,
                Insight.created_at,
                author.display_name,
                author.forgotten_at,
                Source.permalink,
                Insight.community_id,
                Insight.origin_credit,
                tag_names,
                page.c.total,
            )
            .join_from(page, Insight, Insight.id == page.c.id)
            .join(Source, Source.id == Insight.source_id)
            .outerjoin(author, author.id == Insight.author_member_id)
            .order_by(page.c.rank, page.c.id.desc())
        )
        rows = (await session.execute(listing)).all()
        if rows:
            total = rows[0][-1]
        elif query.offset:  # past the last page: how many pages there are
            total = await session.scalar(
                select(func.count()).select_from(counted.limit(COUNT_CAP + 1).subquery())
            )
        else:
            total = 0
        hits = tuple(
            SearchHit(
                insight_id=insight_id,
                title=title,
                snippet=tidy(snip),
                tags=tuple(tag_list or ()),
                author_name=credit or (FORGOTTEN_NAME if forgotten or name is None else name),
                permalink=permalink,
                created_at=created,
                community_id=community_id,
            )
            for (
                insight_id,
                snip,
                title,
                created,
                name,
                forgotten,
                permalink,
                community_id,
                credit,
                tag_list,
                _,
            ) in rows
        )
        total = int(total or 0)
        return SearchPage(hits, min(total, COUNT_CAP), query.offset, capped=total > COUNT_CAP)


def tidy(snippet: str | None) -> str:
    text = " ".join((snippet or "").split())
    return text if len(text) <= SNIPPET_CHARS + 40 else text[:SNIPPET_CHARS] + "…"


def in_scope(query: SearchQuery) -> Any:
    """The community's own insights, plus siblings' shared ones it has not adopted (its copy
    stands for those)."""
    public = Insight.visibility == Visibility.PUBLIC if query.public_only else true()
    if query.communities:
        return and_(Insight.community_id.in_(query.communities), public)
    own = Insight.community_id == query.community_id
    if not query.shared_from:
        return and_(own, public)
    copy = aliased(Insight)
    adopted = exists().where(
        copy.community_id == query.community_id, copy.origin_insight_id == Insight.id
    )
    shared = and_(
        Insight.community_id.in_(query.shared_from),
        Insight.visibility.in_(SHARED_VISIBILITIES),
        Insight.origin_insight_id.is_(None),
        ~adopted,
    )
    return and_(or_(own, shared), public)


def _filtered(base: Select[Any], query: SearchQuery) -> Select[Any]:
    for tag in query.tags:
        base = base.where(
            exists()
            .where(InsightTag.insight_id == Insight.id)
            .where(InsightTag.tag_id == Tag.id)
            .where(Tag.name == tag, Tag.community_id == Insight.community_id)
        )
    if query.author:
        name = query.author.lstrip("@").casefold()
        base = base.where(
            exists()
            .where(Member.id == Insight.author_member_id, Member.forgotten_at.is_(None))
            .where(
                or_(
                    func.lower(Member.display_name) == name,
                    exists().where(
                        Identity.member_id == Member.id,
                        func.lower(Identity.platform_user_id) == name,
                    ),
                )
            )
        )
    if query.since is not None:
        base = base.where(Insight.created_at >= query.since)
    if query.only_ids:
        base = base.where(Insight.id.in_(query.only_ids))
    return base
