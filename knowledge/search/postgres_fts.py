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
from knowledge.search.ranked import RELAXED_DEPTH, RankedSearch

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

    With a tag filter or a constellation scope, a MATERIALIZED CTE makes the search
    start from the GIN index: the planner (misjudging how common a tag is) drove it from
    the tag and tested every tagged insight (750 ms where this takes 40;
    bench/constellation_search.py)."""
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

    def _ranked(self, base: Select[Any], query: SearchQuery) -> tuple[Select[Any], Any]:
        tsquery = _tsquery(query)
        matched = _matching(base, query)
        snippet = func.ts_headline("english", Insight.body, tsquery, literal(_HEADLINE))
        if not query.relaxed:
            return matched.add_columns((-func.ts_rank_cd(_vector, tsquery)).label("rank")), snippet
        # any of the words: rank the newest RELAXED_DEPTH matches (knowledge.search.ranked)
        recent = (
            matched.add_columns(_vector.label("vector"))
            .order_by(Insight.id.desc())
            .limit(RELAXED_DEPTH)
            .subquery("recent")
        )
        ranked = select(recent.c.id, (-func.ts_rank_cd(recent.c.vector, tsquery)).label("rank"))
        return ranked, snippet
