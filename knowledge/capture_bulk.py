"""`hearth import` on SQLite: a batch of lines with one INSERT for all their insights.

Why: the full-text index is kept by a trigger on `insights`, and a statement that fires a
trigger runs in a statement transaction, on which FTS5 writes out what it has buffered:
one INSERT per insight wrote one tiny index segment per line, 50-120 µs a line, most of
an import's time (bench/README.md, issue #17). Here each line's people and source are
written as a capture writes them (`people_and_source`, each line in its own SAVEPOINT,
so a refused line is rolled back alone), then every new insight of the batch goes in one
multi-row INSERT, and their tags in two statements. The rows, keys and values are those
`capture_writer.write_batch` writes; if a batch-wide statement fails, the batch is
written again line by line by `write_batch`, so a bad line is still reported alone.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from knowledge.capture_writer import (
    CAPTURED,
    Members,
    Pending,
    Written,
    people_and_source,
    write_batch,
)
from knowledge.vocabulary import Visibility

_INSIGHTS = (
    "INSERT INTO insights (community_id, source_id, title, body, author_member_id, "
    "curator_member_id, created_at, updated_at, visibility, shared_at) VALUES "
)
_ROW = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
Staged = tuple[int, tuple[Any, ...], Written]  # index in the batch, insight values, outcome
_FOUND = Written(0, False, None, "", None)  # marks a line repeating an earlier one's source


def write_import_batch(
    conn: sqlite3.Connection, batch: Sequence[Pending], bind_time: Callable[[Any], Any]
) -> list[Written | BaseException]:
    """One transaction writing every line of `batch` (all `look_first` rows)."""
    cursor = conn.cursor()
    try:
        cursor.execute("BEGIN IMMEDIATE")
        outcomes = _people_and_sources(cursor, batch, bind_time)
        staged = [o for o in outcomes if isinstance(o, tuple) and o[2] is not _FOUND]
        try:
            written = _insights_and_tags(cursor, batch, staged)
        except sqlite3.Error:  # a line the batch-wide statements refuse: line by line
            conn.execute("ROLLBACK")
            return write_batch(conn, batch, bind_time)
        cursor.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    finally:
        cursor.close()
    done: list[Written | BaseException] = []
    for index, outcome in enumerate(outcomes):
        if not isinstance(outcome, tuple):
            done.append(outcome)
        elif outcome[2] is _FOUND:  # the same source as an earlier line of this batch
            done.append(Written(written[outcome[0]].insight_id, False, None, "", None))
        else:
            done.append(written[index])
    return done


def _people_and_sources(
    cursor: sqlite3.Cursor, batch: Sequence[Pending], bind_time: Callable[[Any], Any]
) -> list[Written | BaseException | Staged]:
    visibilities: dict[int, Visibility] = {}
    members: Members = {}
    seen: dict[tuple[int, str, str, str, str], int] = {}  # a source twice in one file
    outcomes: list[Written | BaseException | Staged] = []
    for index, item in enumerate(batch):
        row, src = item.row, item.row.source
        key = (row.community_id, src.platform, src.space, src.channel, src.message_id)
        if key in seen:  # as if the earlier line were written already: found, not made
            outcomes.append((seen[key], (), _FOUND))
            continue
        found = cursor.execute(CAPTURED, key).fetchone()
        if found is not None:  # imported before: adds nothing, not even its author
            outcomes.append(Written(found[0], False, None, "", None))
            continue
        cursor.execute("SAVEPOINT capture")
        try:
            now = bind_time(row.now)
            author_id, author_name, curator_id, source_id, visibility = people_and_source(
                cursor, row, now, bind_time, visibilities, members
            )
            shared = None if visibility == Visibility.COMMUNITY else now
            values = (
                row.community_id, source_id, row.title, row.body, author_id, curator_id,
                now, now, visibility, shared,
            )  # fmt: skip
            seen[key] = index
            outcomes.append((index, values, Written(0, True, author_id, author_name, visibility)))
        except Exception as exc:  # this line alone is refused; the import reports why
            cursor.execute("ROLLBACK TO capture")
            members.clear()  # a member it added is gone again
            outcomes.append(exc)
        cursor.execute("RELEASE capture")
    return outcomes


def _insights_and_tags(
    cursor: sqlite3.Cursor, batch: Sequence[Pending], staged: list[Staged]
) -> dict[int, Written]:
    """Every staged insight in one INSERT (one index flush), then their tags."""
    written: dict[int, Written] = {}
    if not staged:
        return written
    returned = cursor.execute(
        _INSIGHTS
        + ", ".join([_ROW] * len(staged))
        + " ON CONFLICT (community_id, source_id) DO NOTHING RETURNING id, community_id,"
        " source_id",
        [value for _, values, _ in staged for value in values],
    ).fetchall()
    made = {(community, source): insight for insight, community, source in returned}
    links: list[tuple[int, int, str]] = []  # (insight, community, tag name)
    for index, values, outcome in staged:
        insight_id = made.get((values[0], values[1]))
        if insight_id is None:  # captured meanwhile by another path: found, not made
            existing = cursor.execute(
                "SELECT id FROM insights WHERE community_id = ? AND source_id = ?",
                (values[0], values[1]),
            ).fetchone()[0]
            written[index] = Written(existing, False, *_rest(outcome))
            continue
        written[index] = Written(insight_id, True, *_rest(outcome))
        links += [(insight_id, values[0], name) for name in sorted(set(batch[index].row.tags))]
    if links:
        names = list(dict.fromkeys((community, name) for _, community, name in links))
        cursor.execute(
            "INSERT INTO tags (community_id, name) VALUES "
            + ", ".join(["(?, ?)"] * len(names))
            + " ON CONFLICT (community_id, name) DO NOTHING",
            [value for pair in names for value in pair],
        )
        cursor.execute(
            "WITH wanted (insight_id, community_id, name) AS (VALUES "
            + ", ".join(["(?, ?, ?)"] * len(links))
            + ") INSERT INTO insight_tags (insight_id, tag_id) SELECT w.insight_id, t.id"
            " FROM wanted AS w JOIN tags AS t ON t.community_id = w.community_id"
            " AND t.name = w.name",
            [value for link in links for value in link],
        )
    return written


def _rest(outcome: Written) -> tuple[int | None, str, Visibility | None]:
    return outcome.author_id, outcome.author_name, outcome.visibility
