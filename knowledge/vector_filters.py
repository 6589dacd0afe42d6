"""A semantic search's scope and filters as SQL over `insights`, for both vector paths.

Why one place: the in-process path checks its candidates with it, pgvector ranks under
it (knowledge/pgvector_search.py); neighbours must never include what full-text search
would not show, so the two must mean the same as /search's own filters.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func

from knowledge.models import Insight
from knowledge.search.query import SearchQuery
from knowledge.search.ranked import _filtered, in_scope


def in_query_scope(base: Select[Any], community_id: int, query: SearchQuery | None) -> Select[Any]:
    """`base` (over `insights`) narrowed to the community, or to the query's scope, tags,
    author, dates and -exclusions."""
    if query is None:
        return base.where(Insight.community_id == community_id)
    base = _filtered(base.where(in_scope(query)), query)
    text = func.lower(func.coalesce(Insight.title, "") + " " + Insight.body)
    for term in query.terms.excluded:
        base = base.where(~text.contains(term.lower(), autoescape=True))
    return base
