"""PostgreSQL full-text search over the GIN expression index the migration creates."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, literal, literal_column, select
from sqlalchemy.sql.expression import ColumnClause

from knowledge.models import Insight
from knowledge.schema_extras import POSTGRES_TSVECTOR
from knowledge.search import HIGHLIGHT
from knowledge.search.query import SearchQuery, Terms
from knowledge.search.ranked import RankedSearch

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


def _matching(base: Select[Any], query: SearchQuery) -> Select[Any]:
    """`base` restricted to the full-text matches.

    With a tag filter or a constellation scope, the planner (misjudging how common a tag
    is) drove the search from the tag and recomputed the tsvector per tagged insight:
    750 ms where starting from the GIN matches takes 40 (bench/constellation_search.py).
    A MATERIALIZED CTE makes it start from the index.
    """
    condition = _vector.op("@@")(_tsquery(query))
    if not (query.tags or query.shared_from):
        return base.where(condition)
    matches = (
        select(Insight.id.label("id"))
        .where(condition)
        .cte("fts_matches")
        .prefix_with("MATERIALIZED")
    )
    return base.join(matches, matches.c.id == Insight.id)


class PostgresSearch(RankedSearch):
    def _counted(self, base: Select[Any], query: SearchQuery) -> Select[Any]:
        return _matching(base, query)

    def _ranked(self, base: Select[Any], query: SearchQuery) -> tuple[Select[Any], Any, Any]:
        tsquery = _tsquery(query)
        matched = _matching(base, query)
        rank = -func.ts_rank_cd(_vector, tsquery)
        snippet = func.ts_headline("english", Insight.body, tsquery, literal(_HEADLINE))
        return matched, rank, snippet
