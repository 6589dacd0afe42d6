"""A visitor's insight page on SQLite, read in one hop on the connection's thread.

Why: the page is about a dozen small statements (the insight and its tags, its source,
revisions, copies and origin, word frequencies, the related ranking and their cards).
Through the async engine each statement costs several hand-offs between the event loop
and aiosqlite's thread, and each session a BEGIN IMMEDIATE; under load those, not the
SQL, were the page's p95 (bench/garden.py). The same queries as knowledge.garden_insights
(which PostgreSQL uses), written once more in SQLite's SQL; tests/test_garden.py runs
every page on both databases.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from knowledge.garden_insights import (
    COMMON_WORD,
    RELATED_SHOWN,
    InsightPageData,
    WordCounts,
    frequency_sql,
    related_candidates,
    related_query,
)
from knowledge.garden_rows import PUBLIC, CommunityRef, InsightCard, PublicCommunity, PublicInsight
from knowledge.search.sqlite_fts import search_on, utc_moment
from knowledge.views import FORGOTTEN_NAME


def insight_page(
    connection: sqlite3.Connection, slug: str, insight_id: int, counts: WordCounts
) -> InsightPageData | None:
    found = connection.execute(
        "SELECT c.id, c.slug, c.name FROM insights AS i JOIN communities AS c"
        " ON c.id = i.community_id WHERE i.id = ? AND c.slug = ? AND i.visibility = ?",
        (insight_id, slug, PUBLIC),
    ).fetchone()
    if found is None:
        return None
    community = PublicCommunity(found[0], found[1], found[2], 0, (), None)
    found_cards = cards(connection, [insight_id])
    if not found_cards:
        return None
    card = found_cards[0]
    source = connection.execute(
        "SELECT s.platform, s.deleted_at IS NOT NULL,"
        " (SELECT count(*) FROM insight_revisions AS r WHERE r.insight_id = i.id)"
        " FROM insights AS i JOIN sources AS s ON s.id = i.source_id WHERE i.id = ?",
        (insight_id,),
    ).fetchone()
    if source is None:
        return None
    holders = connection.execute(
        "SELECT c.slug, c.name, EXISTS (SELECT 1 FROM insights AS o"
        " WHERE o.community_id = c.id AND o.visibility = ?)"
        " FROM insights AS i JOIN communities AS c ON c.id = i.community_id"
        " WHERE i.origin_insight_id = ? ORDER BY c.name",
        (PUBLIC, insight_id),
    ).fetchall()
    origin = connection.execute(
        "SELECT c.slug, c.name, o.id FROM insights AS i"
        " JOIN insights AS o ON o.id = i.origin_insight_id"
        " JOIN communities AS c ON c.id = o.community_id"
        " WHERE i.id = ? AND o.visibility = ?",
        (insight_id, PUBLIC),
    ).fetchone()
    insight = PublicInsight(
        card=card,
        source_platform=source[0],
        source_deleted=bool(source[1]),
        revisions=int(source[2]),
        adopted_by=tuple(CommunityRef(s, n) for s, n, shown in holders if shown),
        adopted_elsewhere=sum(1 for *_, shown in holders if not shown),
        adopted_from=None if origin is None else (CommunityRef(origin[0], origin[1]), origin[2]),
    )
    return InsightPageData(community, insight, tuple(related(connection, card, counts)))


def related(
    connection: sqlite3.Connection, card: InsightCard, counts: WordCounts
) -> list[InsightCard]:
    words = related_candidates(card)
    if not words:
        return []
    frequency = counts.known(card.community_id, words)
    missing = [word for word in words if word not in frequency]
    if missing:
        sql, params = frequency_sql("sqlite", card.community_id, missing, COMMON_WORD)
        row = connection.execute(sql, params).fetchone()
        counted = {word: int(n or 0) for word, n in zip(missing, row, strict=True)}
        counts.keep(card.community_id, counted)
        frequency.update(counted)
    query = related_query(card, {word: frequency[word] for word in words})
    if query is None:
        return []
    page = search_on(connection, query)
    ids = [hit.insight_id for hit in page.hits if hit.insight_id != card.id]
    return cards(connection, ids[:RELATED_SHOWN])


def cards(connection: sqlite3.Connection, ids: Sequence[int]) -> list[InsightCard]:
    """The public ones among `ids`, in the order given (knowledge.garden_rows.cards)."""
    if not ids:
        return []
    marks = ", ".join("?" for _ in ids)
    rows = connection.execute(
        "SELECT i.id, i.community_id, i.title, i.body, i.origin_credit, m.display_name,"
        " m.forgotten_at, i.created_at, i.updated_at FROM insights AS i"
        " LEFT JOIN members AS m ON m.id = i.author_member_id"
        f" WHERE i.id IN ({marks}) AND i.visibility = ?",
        (*ids, PUBLIC),
    ).fetchall()
    tags: dict[int, list[str]] = {}
    for insight_id, name in connection.execute(
        "SELECT it.insight_id, t.name FROM insight_tags AS it JOIN tags AS t"
        f" ON t.id = it.tag_id WHERE it.insight_id IN ({marks}) ORDER BY t.name",
        tuple(ids),
    ):
        tags.setdefault(insight_id, []).append(name)
    found = {
        iid: InsightCard(
            iid,
            cid,
            title,
            body,
            tuple(tags.get(iid, ())),
            credit or (FORGOTTEN_NAME if forgotten or name is None else name),
            utc_moment(created),
            utc_moment(updated),
        )
        for iid, cid, title, body, credit, name, forgotten, created, updated in rows
    }
    return [found[i] for i in ids if i in found]
