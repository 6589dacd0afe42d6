"""Tag-filtered full text with and without the tags inside FTS5, interleaved, same file.

Why: migration 0016 indexes each insight's tags as a third FTS5 column so a tag filter
narrows the match inside FTS5 (knowledge/search/sqlite_fts.py `_indexed`); before it,
every match of the words had its tags tested by key. This runs Hearth's own search SQL
(`search_on`, on the connection directly: no thread hop) both ways per question, the
order alternating, and checks the pages are identical.

    .venv/bin/python bench/capture_search.py --bulk --count 100000 --keep   # prints its folder
    .venv/bin/python bench/fts_tags.py /tmp/hearth-bench-XXXX/hearth.db
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import machine_info, percentile

import knowledge.search.sqlite_fts as fts
from knowledge.search import SearchQuery, parse_terms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("database", help="a SQLite file made by capture_search.py --keep")
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--seed", type=int, default=2)
    args = parser.parse_args()
    with_tags = fts._indexed

    def words_only(match: str, tags: object) -> str:
        return "{title body} : (" + match + ")"

    connection = sqlite3.connect(args.database)
    connection.execute(fts.PAGE_TABLE)
    (community,) = connection.execute(
        "SELECT id FROM communities WHERE slug LIKE 'bench%'"
    ).fetchone()
    tags = [r[0] for r in connection.execute("SELECT name FROM tags LIMIT 60")]
    bodies = [r[0] for r in connection.execute("SELECT body FROM insights LIMIT 500")]
    rng = random.Random(args.seed)
    timings: dict[str, list[float]] = {"tags in FTS5": [], "tags tested per match": []}
    ways = list(zip(timings, (with_tags, words_only), strict=True))
    for n in range(args.queries):
        words = " ".join(rng.sample(rng.choice(bodies).split(), 2))
        query = SearchQuery(community, parse_terms(words), tags=(rng.choice(tags),))
        pages = []
        for name, narrowing in ways if n % 2 else ways[::-1]:
            fts._indexed = narrowing  # type: ignore[assignment]
            began = time.perf_counter()
            connection.execute("BEGIN")
            page = fts.search_on(connection, query)
            connection.execute("ROLLBACK")
            timings[name].append(time.perf_counter() - began)
            pages.append([hit.insight_id for hit in page.hits])
        assert pages[0] == pages[1], f"different pages for {words!r}"
    for key, value in machine_info(database="SQLite", load=_load()).items():
        print(f"{key:10} {value}")
    (rows,) = connection.execute("SELECT count(*) FROM insights").fetchone()
    print(f"{rows:,} insights, {args.queries} word + tag questions, identical pages both ways")
    for name, samples in timings.items():
        print(
            f"  {name:22} p50 {percentile(samples, 50) * 1000:6.2f} ms"
            f"   p95 {percentile(samples, 95) * 1000:6.2f} ms"
        )


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


if __name__ == "__main__":
    main()
