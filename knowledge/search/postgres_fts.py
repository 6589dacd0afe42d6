"""PostgreSQL full-text search over the GIN expression index the migration creates."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, literal, literal_column
from sqlalchemy.sql.expression import ColumnClause

from knowledge.models import Insight
from knowledge.schema_extras import POSTGRES_TSVECTOR
from knowledge.search import HIGHLIGHT
from knowledge.search.query import SearchQuery
from knowledge.search.ranked import RankedSearch

_vector: ColumnClause[Any] = literal_column(POSTGRES_TSVECTOR)
_HEADLINE = (
    f"StartSel={HIGHLIGHT}, StopSel={HIGHLIGHT}, MaxWords=30, MinWords=12, "
    'MaxFragments=2, FragmentDelimiter=" … "'
)


def _tsquery(query: SearchQuery) -> Any:
    return func.websearch_to_tsquery("english", literal(query.terms.websearch(query.match_any)))


class PostgresSearch(RankedSearch):
    def _counted(self, base: Select[Any], query: SearchQuery) -> Select[Any]:
        return base.where(_vector.op("@@")(_tsquery(query)))

    def _ranked(self, base: Select[Any], query: SearchQuery) -> tuple[Select[Any], Any, Any]:
        tsquery = _tsquery(query)
        matched = base.where(_vector.op("@@")(tsquery))
        rank = -func.ts_rank_cd(_vector, tsquery)
        snippet = func.ts_headline("english", Insight.body, tsquery, literal(_HEADLINE))
        return matched, rank, snippet
