"""PostgreSQL full-text search over the stored tsvector column and its GIN index
(migration 0010): matching and ranking read the stored vector, never recompute it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, literal, literal_column, select
from sqlalchemy.sql.expression import ColumnClause

from knowledge.models import Insight
from knowledge.schema_extras import POSTGRES_TSVECTOR
from knowledge.search import HIGHLIGHT
from knowledge.search.query import SearchQuery, Terms
from knowledge.search.ranked import RELAXED_DEPTH, RankedSearch, in_scope

_vector: ColumnClause[Any] = literal_column(POSTGRES_TSVECTOR)
_HEADLINE = (
    f"StartSel={HIGHLIGHT}, StopSel={HIGHLIGHT}, MaxWords=30, MinWords=12, "
    'MaxFragments=2, FragmentDelimiter=" … "'
)


def _tsquery(query: SearchQuery) -> Any:
    terms = query.terms
    if not query.relaxed:
        return func.websearch_to_tsquery("english", literal(terms.websearch(query.match_any)))
    # Any of the words AND every phrase, minus exclusions: websearch syntax would bind
    # `a or b "p"` as a | (b & p), so the two parts are combined as tsqueries.
    anyword = func.websearch_to_tsquery("english", literal(" or ".join(terms.content_words)))
    if not (terms.phrases or terms.excluded):
        return anyword
    rest = Terms((), terms.phrases, terms.excluded).websearch()
    return anyword.op("&&")(func.websearch_to_tsquery("english", literal(rest)))


def _matching(base: Select[Any], query: SearchQuery, ranked: bool = False) -> Select[Any]:
    """`base` restricted to the full-text matches, found first through the GIN index.

    A MATERIALIZED CTE makes the search start from the index: with a tag filter or a
    constellation scope the planner (misjudging how common a tag is) drove the search
    from the tag and tested every tagged insight (750 ms where this takes 40;
    bench/constellation_search.py). `ranked`: the any-word fallback keeps the newest
    RELAXED_DEPTH matches to rank (knowledge.search.ranked); its count sees them all.
    """
    matches = (
        select(Insight.id.label("id"))
        .where(_vector.op("@@")(_tsquery(query)))
        .where(in_scope(query))
    )
    if ranked and query.relaxed:
        matches = matches.order_by(Insight.id.desc()).limit(RELAXED_DEPTH)
    found = matches.cte("fts_matches").prefix_with("MATERIALIZED")
    return base.join(found, found.c.id == Insight.id)


class PostgresSearch(RankedSearch):
    def _counted(self, base: Select[Any], query: SearchQuery) -> Select[Any]:
        return _matching(base, query)

    def _ranked(self, base: Select[Any], query: SearchQuery) -> tuple[Select[Any], Any, Any]:
        tsquery = _tsquery(query)
        matched = _matching(base, query, ranked=True)
        rank = -func.ts_rank_cd(_vector, tsquery)
        snippet = func.ts_headline("english", Insight.body, tsquery, literal(_HEADLINE))
        return matched, rank, snippet
