"""SQLite FTS5: bm25 ranking (title weighs more than body) and FTS5's own snippets.

A search is a few fixed statements run in one call on the connection's thread
(knowledge.sqlite_thread), each driven from the FTS5 index:

1. the page's ids, ranked by bm25 inside FTS5 with a LIMIT (joined to `insights` only
   when a filter or another community's rows need it);
2. the count, from the same match (FTS5 alone when the database holds one community);
3. the snippets and the rest of each hit, for the page's ids only; then their tags.

The any-word fallback (no insight has every word) ranks the newest RELAXED_DEPTH
matches, not all of them: "any of five words" can match half the insights, and ranking
them all took 40 ms at p95 at 100k where the page needs ten.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from knowledge.db import Database
from knowledge.schema_extras import SQLITE_FTS_TABLE, SQLITE_TAG_TEXT_COLUMN
from knowledge.search import HIGHLIGHT, SearchHit, SearchPage
from knowledge.search.query import SearchQuery, Terms
from knowledge.search.ranked import COUNT_CAP, RELAXED_DEPTH, SNIPPET_CHARS, tidy
from knowledge.sqlite_thread import read_on_thread
from knowledge.views import FORGOTTEN_NAME
from knowledge.vocabulary import SHARED_VISIBILITIES

# The page's snippets come from a per-connection in-memory FTS5 table holding only the
# page's rows (same tokenizer as the migration's insights_fts): FTS5's snippet() over the
# real index re-reads each word's whole posting list per row (3 ms for ten rows at 100k),
# over ten rows it takes 0.3 ms, with the same text.
_PAGE = "hearth_page_fts"
PAGE_TABLE = (
    f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.{_PAGE} USING fts5(title, body,"
    " tokenize='porter unicode61 remove_diacritics 2')"
)
_F = SQLITE_FTS_TABLE
_TAGS = SQLITE_TAG_TEXT_COLUMN
_RANK = f"bm25({_F}, 4.0, 1.0, 0.0)"
_SNIPPET = f"snippet({_PAGE}, 1, '{HIGHLIGHT}', '{HIGHLIGHT}', '…', 24)"
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores a UTC datetime in SQLite


def _quoted(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def fts5_expression(terms: Terms, match_any: bool = False, relaxed: bool = False) -> str:
    """Every term quoted, so user text can never be read as FTS5 operators.

    `relaxed`: any of the content words, every phrase (the porter tokenizer already lets
    `changing` find `change`)."""
    if relaxed:
        anyword = "(" + " OR ".join(_quoted(w) for w in terms.content_words) + ")"
        expression = " AND ".join([anyword, *(_quoted(p) for p in terms.phrases)])
    else:
        joiner = " OR " if match_any else " "
        expression = joiner.join(_quoted(t) for t in (*terms.words, *terms.phrases))
    for term in terms.excluded:
        expression = f"({expression}) NOT {_quoted(term)}"
    return expression


@dataclass
class _Where:
    """The scope and filters as SQL over `insights AS i`, with their parameters."""

    sql: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)

    def add(self, sql: str, *params: Any) -> None:
        self.sql.append(sql)
        self.params.extend(params)

    def clause(self) -> str:
        return " AND ".join(self.sql) if self.sql else "1"


def _ints(values: Sequence[int]) -> str:
    return ", ".join(str(int(v)) for v in values)


def _where(query: SearchQuery, scoped: bool = True, rowid: str = "i.id") -> _Where:
    """Same meaning as knowledge.search.ranked.in_scope and _filtered (PostgreSQL's).

    `scoped=False`: leave out the community scope (every insight is in it) and so need
    no `insights AS i` for tags; `rowid` names the insight id column (e.g. FTS5's)."""
    where = _Where()
    for tag in query.tags:
        # per match, its own few tags by primary key. Not `rowid IN (tagged ids)`: FTS5
        # takes that as a rowid constraint and re-runs the MATCH once per tagged id
        # (870 ms at 100k); not through `i`, so one community needs no join.
        communities = _ints(query.communities or (query.community_id, *query.shared_from))
        where.add(
            "EXISTS (SELECT 1 FROM insight_tags AS it JOIN tags AS t ON t.id = it.tag_id"
            f" WHERE it.insight_id = {rowid} AND t.name = ? AND t.community_id IN ({communities}))",
            tag,
        )
    if not scoped:
        return where
    if query.public_only:
        where.add("i.visibility = 'public'")
    # Given ids: look them up by primary key; `+` keeps SQLite from walking the whole
    # community index instead (what it chose at 100k: 50 ms for thirty ids)
    community = "+i.community_id" if query.only_ids else "i.community_id"
    if query.communities:
        where.add(f"{community} IN ({_ints(query.communities)})")
    elif query.shared_from:
        visibilities = ", ".join(f"'{v}'" for v in SHARED_VISIBILITIES)
        where.add(
            f"({community} = ? OR (i.community_id IN ({_ints(query.shared_from)})"
            f" AND i.visibility IN ({visibilities}) AND i.origin_insight_id IS NULL"
            " AND NOT EXISTS (SELECT 1 FROM insights AS c"
            " WHERE c.community_id = ? AND c.origin_insight_id = i.id)))",
            query.community_id,
            query.community_id,
        )
    else:
        where.add(f"{community} = ?", query.community_id)
    if query.author:
        name = query.author.lstrip("@").casefold()
        where.add(
            "EXISTS (SELECT 1 FROM members AS m WHERE m.id = i.author_member_id"
            " AND m.forgotten_at IS NULL AND (lower(m.display_name) = ? OR EXISTS"
            " (SELECT 1 FROM identities AS d WHERE d.member_id = m.id"
            " AND lower(d.platform_user_id) = ?)))",
            name,
            name,
        )
    if query.since is not None:
        since = query.since if query.since.tzinfo else query.since.replace(tzinfo=UTC)
        where.add("i.created_at >= ?", since.astimezone(UTC).strftime(_SQLITE_TIME))
    if query.only_ids:
        where.add(f"i.id IN ({_ints(query.only_ids)})")
    return where


def _only_community(connection: sqlite3.Connection, query: SearchQuery) -> bool:
    """True if every insight in the database is this community's and only tags filter:
    then FTS5 (and each match's tags) alone answer (two index probes tell)."""
    if (
        query.shared_from
        or query.author
        or query.since
        or query.only_ids
        or query.communities
        or query.public_only
    ):
        return False
    # two statements: SQLite reads min() or max() from the index only when alone
    (low,) = connection.execute("SELECT min(community_id) FROM insights").fetchone()
    (high,) = connection.execute("SELECT max(community_id) FROM insights").fetchone()
    return low is None or low == high == query.community_id


def _ranked_ids(
    connection: sqlite3.Connection, query: SearchQuery, match: str, alone: bool
) -> tuple[list[int], int]:
    """(the page's ids, best first; how many insights match in all)."""
    if query.only_ids:
        return _ranked_among(connection, query, match)
    match = _indexed(match, query.tags)
    if alone:
        where = _where(query, scoped=False, rowid=f"{_F}.rowid")
        source = f"{_F} WHERE {_F} MATCH ? AND {where.clause()}"
        params: list[Any] = [match, *where.params]
    else:
        where = _where(query)
        # CROSS JOIN: FTS5 drives, each match looks up its insight by primary key
        source = (
            f"{_F} CROSS JOIN insights AS i ON i.id = {_F}.rowid"
            f" WHERE {_F} MATCH ? AND {where.clause()}"
        )
        params = [match, *where.params]
    if query.relaxed:
        ranked = (
            f"SELECT id FROM (SELECT {_F}.rowid AS id, {_RANK} AS r FROM {source}"
            f" ORDER BY {_F}.rowid DESC LIMIT {RELAXED_DEPTH})"
            " ORDER BY r, id DESC LIMIT ? OFFSET ?"
        )
    else:
        ranked = (
            f"SELECT {_F}.rowid FROM {source} ORDER BY {_RANK}, {_F}.rowid DESC LIMIT ? OFFSET ?"
        )
    ids = [row[0] for row in connection.execute(ranked, [*params, query.limit, query.offset])]
    return ids, _count(connection, f"SELECT 1 FROM {source}", params)


def _indexed(match: str, tags: Sequence[str]) -> str:
    """The words' match over the title and body only, and each tag's words in the tags
    column (migration 0018): FTS5 intersects them, where testing every match's tags took
    most of a tag-filtered search. Stemmed, the tags column may also match a near tag
    (#test for #testing): `_where`'s exact test still decides."""
    narrowed = [f"{{title body}} : ({match})"]
    narrowed += [f"{_TAGS} : {_quoted(tag)}" for tag in tags if any(c.isalnum() for c in tag)]
    return " AND ".join(narrowed)


def _ranked_among(
    connection: sqlite3.Connection, query: SearchQuery, match: str
) -> tuple[list[int], int]:
    """Which of the given ids match (the hybrid search asks about its neighbours): their
    rows go into the page table and are matched there, so the cost follows the ids, not
    the matches of common words over the whole index. bm25 then weighs words within
    these rows only."""
    where = _where(query)
    connection.execute(f"DELETE FROM temp.{_PAGE}")
    connection.execute(
        f"INSERT INTO temp.{_PAGE}(rowid, title, body) SELECT i.id, coalesce(i.title, ''),"
        f" i.body FROM insights AS i WHERE {where.clause()}",
        where.params,
    )
    source = f"temp.{_PAGE} WHERE {_PAGE} MATCH ?"
    ranked = (
        f"SELECT rowid FROM {source} ORDER BY bm25({_PAGE}, 4.0, 1.0), rowid DESC LIMIT ? OFFSET ?"
    )
    ids = [row[0] for row in connection.execute(ranked, (match, query.limit, query.offset))]
    return ids, _count(connection, f"SELECT 1 FROM {source}", (match,))


def _count(connection: sqlite3.Connection, rows: str, params: Sequence[Any]) -> int:
    """How many rows `rows` selects, up to COUNT_CAP + 1 (more than the cap)."""
    (total,) = connection.execute(
        f"SELECT count(*) FROM ({rows} LIMIT {COUNT_CAP + 1})", params
    ).fetchone()
    return int(total)


def _listed_ids(connection: sqlite3.Connection, query: SearchQuery) -> tuple[list[int], int]:
    """No words (a listing, or fetching given ids): newest first."""
    where = _where(query)
    ids = [
        row[0]
        for row in connection.execute(
            f"SELECT i.id FROM insights AS i WHERE {where.clause()}"
            " ORDER BY i.id DESC LIMIT ? OFFSET ?",
            [*where.params, query.limit, query.offset],
        )
    ]
    return ids, _count(
        connection, f"SELECT 1 FROM insights AS i WHERE {where.clause()}", where.params
    )


_HIT_COLUMNS = (
    "i.id, {snippet}, i.title, i.created_at, m.display_name, m.forgotten_at,"
    " s.permalink, i.community_id, i.origin_credit"
)
_HIT_JOINS = (
    " JOIN sources AS s ON s.id = i.source_id LEFT JOIN members AS m ON m.id = i.author_member_id"
)


def _hits(
    connection: sqlite3.Connection, ids: list[int], match: str | None
) -> dict[int, SearchHit]:
    """The page's hits by id: snippets from FTS5 (its MATCH cursor, for these ids only)."""
    if not ids:
        return {}
    listed = _ints(ids)
    if match is None:
        columns = _HIT_COLUMNS.format(snippet=f"substr(i.body, 1, {SNIPPET_CHARS})")
        rows = connection.execute(
            f"SELECT {columns} FROM insights AS i{_HIT_JOINS} WHERE i.id IN ({listed})"
        ).fetchall()
    else:
        # rolled back with the snapshot transaction (knowledge.sqlite_thread); emptied
        # first for the any-word retry within the same one
        connection.execute(f"DELETE FROM temp.{_PAGE}")
        connection.execute(
            f"INSERT INTO temp.{_PAGE}(rowid, title, body)"
            f" SELECT id, coalesce(title, ''), body FROM insights WHERE id IN ({listed})"
        )
        columns = _HIT_COLUMNS.format(snippet=_SNIPPET)
        rows = connection.execute(
            f"SELECT {columns} FROM temp.{_PAGE} CROSS JOIN insights AS i"
            f" ON i.id = {_PAGE}.rowid{_HIT_JOINS} WHERE {_PAGE} MATCH ?",
            (match,),
        ).fetchall()
    tags: dict[int, list[str]] = {}
    for insight_id, name in connection.execute(
        "SELECT it.insight_id, t.name FROM insight_tags AS it JOIN tags AS t ON t.id = it.tag_id"
        f" WHERE it.insight_id IN ({listed}) ORDER BY t.name"
    ):
        tags.setdefault(insight_id, []).append(name)
    hits: dict[int, SearchHit] = {}
    for insight_id, snip, title, created, name, forgotten, permalink, community, credit in rows:
        hits[insight_id] = SearchHit(
            insight_id=insight_id,
            title=title,
            snippet=tidy(snip),
            tags=tuple(tags.get(insight_id, ())),
            author_name=credit or (FORGOTTEN_NAME if forgotten or name is None else name),
            permalink=permalink,
            created_at=utc_moment(created),
            community_id=community,
        )
    return hits


def utc_moment(value: str | datetime) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _page(connection: sqlite3.Connection, query: SearchQuery) -> SearchPage:
    if query.terms.empty:
        ids, total = _listed_ids(connection, query)
        match = None
    else:
        match = fts5_expression(query.terms, query.match_any, query.relaxed)
        ids, total = _ranked_ids(connection, query, match, _only_community(connection, query))
    found = _hits(connection, ids, match)
    hits = tuple(found[i] for i in ids if i in found)
    capped = total > COUNT_CAP
    return SearchPage(
        hits, min(total, COUNT_CAP), query.offset, relaxed=query.relaxed, capped=capped
    )


def search_on(connection: sqlite3.Connection, query: SearchQuery) -> SearchPage:
    """Every word first; if that finds less than a page, any of the (content) words."""
    page = _page(connection, query)
    if (
        page.total < query.limit
        and not (query.match_any or query.relaxed)
        and query.terms.relaxable
    ):
        wider = _page(connection, replace(query, relaxed=True))
        if wider.total > page.total:
            return wider
    return page


def surviving_ids(
    connection: sqlite3.Connection, candidates: Sequence[int], query: SearchQuery
) -> set[int]:
    """Which candidates still exist, in scope, pass the filters and contain none of the
    -excluded words (knowledge.embeddings: the semantic leg's neighbours)."""
    if not candidates:
        return set()
    where = _where(replace(query, only_ids=tuple(candidates)))
    for term in query.terms.excluded:
        escaped = term.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.add(
            "lower(coalesce(i.title, '') || ' ' || i.body) NOT LIKE ? ESCAPE '\\'",
            f"%{escaped}%",
        )
    rows = connection.execute(
        f"SELECT i.id FROM insights AS i WHERE {where.clause()}", where.params
    )
    return {row[0] for row in rows}


class SqliteSearch:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def search(self, query: SearchQuery) -> SearchPage:
        return await read_on_thread(
            self._db, lambda connection: search_on(connection, query), PAGE_TABLE
        )

    async def search_exact(self, query: SearchQuery) -> SearchPage:
        """Only what `query` says (no any-word fallback)."""
        return await read_on_thread(
            self._db, lambda connection: _page(connection, query), PAGE_TABLE
        )
