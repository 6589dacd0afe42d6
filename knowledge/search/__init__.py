"""Full-text search over insights: one interface, SQLite FTS5 or PostgreSQL behind it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from knowledge.db import Database
from knowledge.search.query import SearchQuery, Terms, parse_terms

__all__ = [
    "SearchBackend",
    "SearchHit",
    "SearchPage",
    "SearchQuery",
    "Terms",
    "open_search",
    "parse_terms",
]

HIGHLIGHT = "**"


@dataclass(frozen=True)
class SearchHit:
    insight_id: int
    title: str | None
    snippet: str
    tags: tuple[str, ...]
    author_name: str
    permalink: str | None
    created_at: datetime
    community_id: int = 0  # where it lives: a sibling's, when searching the constellation
    # Why it matched: "words" (the snippet highlights them) or "meaning" (a neighbour by
    # semantic similarity whose words did not match)
    matched: str = "words"


@dataclass(frozen=True)
class SearchPage:
    hits: tuple[SearchHit, ...]
    total: int
    offset: int
    relaxed: bool = False  # no insight had every word: these have some of them
    capped: bool = False  # more insights match than `total` says (counting stopped there)


class SearchBackend(Protocol):
    async def search(self, query: SearchQuery) -> SearchPage: ...


def open_search(database: Database) -> SearchBackend:
    if database.dialect == "postgresql":
        from knowledge.search.postgres_fts import PostgresSearch

        return PostgresSearch(database)
    from knowledge.search.sqlite_fts import SqliteSearch

    return SqliteSearch(database)
