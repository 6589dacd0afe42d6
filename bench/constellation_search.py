"""Constellation search latency: one community's own insights vs. it plus 9 siblings'.

A community linked to others (both sides sharing knowledge) searches its own insights
*and* the siblings' shared ones (`SearchQuery.shared_from`, scope from
`SharedKnowledge.scope`). This measures what that widening costs, on the real search
backend (`open_search(...).search`), beside the same queries searched in the community
alone, on the same data and in the same run.

    .venv/bin/python bench/constellation_search.py --quick            # 10 × 10,000
    .venv/bin/python bench/constellation_search.py                    # 10 × 100,000
    .venv/bin/python bench/constellation_search.py --per-community 50000
    .venv/bin/python bench/constellation_search.py --quick \\
        --database-url postgresql://postgres@127.0.0.1:5432/hearth_bench   # an empty db

Data: 10 communities (`--communities`) of N insights each, generated with
capture_search.py's seeded corpus (Zipf vocabulary, 1-3 tags from 200) but a different
seed per community. About 30% of each community's insights are shared (20%
`constellation`, 10% `public`); community 0 keeps adopted copies of 1% of its siblings'
shared insights (`--adopted`), so the "not adopted" rule of the scope has rows to act
on. Community 0 is linked to every other one by an active link whose two sides both
share knowledge; siblings are not linked to each other.

Loading bypasses `InsightStore.capture` (one transaction per insight, ~25 min per 100k)
and writes the same rows with SQLAlchemy Core executemany, one transaction per
community: members, one source per insight, insights, tags, insight_tags. On SQLite the
FTS5 triggers index every inserted insight; on PostgreSQL the GIN expression index is
maintained on insert, and the script runs ANALYZE afterwards (as autovacuum soon would).
SQLite gets no ANALYZE: Hearth never runs one.

Queries are capture_search.py's mix (1-3 content words, 30% with a tag filter). Each
one runs twice, as community 0 alone and as the constellation, alternating which goes
first; both are timed end to end through `search()` (count + page + tags).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from rich.table import Table
from sqlalchemy import Table as SATable
from sqlalchemy import event, func, insert, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from capture_search import (
    Query,
    Vocabulary,
    _sqlite_size,
    build_vocabulary,
    console,
    corpus,
    progress,
    queries,
)
from measure import machine_info, peak_rss_mib, percentile, workspace

from knowledge.db import Database, open_database
from knowledge.directory import Directory
from knowledge.migrate import upgrade
from knowledge.models import Community, Insight, InsightTag, Link, LinkSide, Member, Source, Tag
from knowledge.search import SearchQuery, open_search, parse_terms
from knowledge.sharing import SharedKnowledge
from knowledge.tags import normalize_tags
from knowledge.vocabulary import LinkStatus, Visibility

DEFAULT_PER_COMMUNITY = 100_000
QUICK_PER_COMMUNITY = 10_000
CHUNK = 10_000  # rows per executemany; a community's rows commit together

_members = cast(SATable, Member.__table__)
_sources = cast(SATable, Source.__table__)
_insights = cast(SATable, Insight.__table__)
_tags = cast(SATable, Tag.__table__)
_insight_tags = cast(SATable, InsightTag.__table__)


# --- loading ----------------------------------------------------------------------------


@dataclass
class Loaded:
    community_ids: list[int]
    seconds: float
    rows: dict[str, int]
    shared: int  # siblings' insights visible to community 0 before adoption
    adopted: int


async def _next_id(database: Database, table: SATable) -> int:
    async with database.engine.connect() as conn:
        return int(await conn.scalar(select(func.coalesce(func.max(table.c.id), 0))) or 0) + 1


async def load(database: Database, args: argparse.Namespace, vocab: Vocabulary) -> Loaded:
    run_id = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    directory = Directory(database)
    communities = [
        await directory.ensure_community(f"cbench-{run_id}-{c}", f"Bench {c:02d}", "UTC")
        for c in range(args.communities)
    ]
    ids = [c.id for c in communities]
    tag_names = normalize_tags(vocab.tags)
    assert len(tag_names) == len(vocab.tags), "bench tags must survive normalisation"
    # Explicit ids: no RETURNING round trips, and insights can name their source and tags.
    member_id = await _next_id(database, _members)
    source_id = await _next_id(database, _sources)
    insight_id = await _next_id(database, _insights)
    tag_id = await _next_id(database, _tags)
    base_time = datetime(2024, 1, 1, tzinfo=UTC)
    to_adopt: list[dict[str, Any]] = []
    first_members: list[int] = []
    shared_by_siblings = 0
    rows = dict.fromkeys(("members", "sources", "insights", "tags", "insight_tags"), 0)
    total = args.per_community * args.communities

    started = time.perf_counter()
    with progress() as bar:
        task = bar.add_task("bulk load", total=total, rate="")
        done = 0
        for c, community_id in enumerate(ids):
            rng = random.Random(args.seed * 1_000_003 + c)
            first_member = member_id
            first_members.append(first_member)
            members = [
                {
                    "id": member_id + m,
                    "community_id": community_id,
                    "display_name": f"User {c}-{m}",
                    "role": "member",
                    "created_at": base_time,
                }
                for m in range(args.members)
            ]
            member_id += args.members
            tags = [
                {"id": tag_id + t, "community_id": community_id, "name": name}
                for t, name in enumerate(tag_names)
            ]
            first_tag = tag_id
            tag_id += len(tags)
            items = corpus(args.seed + 7 * c, args.per_community, vocab, args.members)
            channel = f"c{c}"
            async with database.engine.begin() as conn:
                await conn.execute(insert(_members), members)
                await conn.execute(insert(_tags), tags)
                rows["members"] += len(members)
                rows["tags"] += len(tags)
                while True:
                    chunk = [item for _, item in zip(range(CHUNK), items, strict=False)]
                    if not chunk:
                        break
                    sources: list[dict[str, Any]] = []
                    insights: list[dict[str, Any]] = []
                    links: list[dict[str, int]] = []
                    for item in chunk:
                        at = base_time + timedelta(seconds=item.index)
                        author = first_member + item.author
                        sources.append(
                            {
                                "id": source_id,
                                "community_id": community_id,
                                "platform": "bench",
                                "space": "bench",
                                "channel": channel,
                                "message_id": str(item.index),
                                "author_member_id": author,
                                "text": item.body,
                                "permalink": f"bench://{c}/{item.index}",
                                "posted_at": at,
                            }
                        )
                        draw = rng.random()
                        visibility = (
                            Visibility.CONSTELLATION
                            if draw < args.shared * 2 / 3
                            else Visibility.PUBLIC
                            if draw < args.shared
                            else Visibility.COMMUNITY
                        )
                        row = {
                            "id": insight_id,
                            "community_id": community_id,
                            "source_id": source_id,
                            "title": item.title,
                            "body": item.body,
                            "author_member_id": author,
                            "curator_member_id": first_member + item.curator,
                            "created_at": at,
                            "updated_at": at,
                            "visibility": visibility.value,
                            "shared_at": at if visibility.shared else None,
                            "origin_insight_id": None,
                            "origin_community_id": None,
                            "origin_credit": None,
                        }
                        insights.append(row)
                        links.extend(
                            {"insight_id": insight_id, "tag_id": first_tag + t} for t in item.tags
                        )
                        if c and visibility.shared:
                            shared_by_siblings += 1
                            if rng.random() < args.adopted:
                                to_adopt.append(row)
                        source_id += 1
                        insight_id += 1
                    await conn.execute(insert(_sources), sources)
                    await conn.execute(insert(_insights), insights)
                    await conn.execute(insert(_insight_tags), links)
                    rows["sources"] += len(sources)
                    rows["insights"] += len(insights)
                    rows["insight_tags"] += len(links)
                    done += len(chunk)
                    rate = done / (time.perf_counter() - started)
                    bar.update(task, completed=done, rate=f"{rate:,.0f}/s")
            if not console.is_terminal:
                console.print(
                    f"community {c}: {done:,} of {total:,} insights loaded "
                    f"({done / (time.perf_counter() - started):,.0f}/s)"
                )

        # Community 0's adopted copies: same source as the origin, credited, not shared.
        copies = []
        curator = first_members[0]
        for origin in to_adopt:
            copies.append(
                {
                    **origin,
                    "id": insight_id,
                    "community_id": ids[0],
                    "curator_member_id": curator,
                    "visibility": Visibility.COMMUNITY.value,
                    "shared_at": None,
                    "origin_insight_id": origin["id"],
                    "origin_community_id": origin["community_id"],
                    "origin_credit": f"User ({origin['community_id']})",
                }
            )
            insight_id += 1
        async with database.engine.begin() as conn:
            for i in range(0, len(copies), CHUNK):
                await conn.execute(insert(_insights), copies[i : i + CHUNK])
        rows["insights"] += len(copies)
    await _link(database, ids)
    if database.dialect == "postgresql":
        async with database.engine.begin() as conn:
            for table in ("members", "sources", "insights", "tags", "links", "link_sides"):
                await conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT coalesce(max(id), 1) FROM {table}))"
                    )
                )
        async with database.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("ANALYZE"))
    seconds = time.perf_counter() - started
    return Loaded(ids, seconds, rows, shared_by_siblings, len(copies))


async def _link(database: Database, ids: list[int]) -> None:
    """Community 0 linked to each other one; both sides share knowledge."""
    now = datetime.now(UTC)
    async with database.sessions.begin() as session:
        for sibling in ids[1:]:
            low, high = sorted((ids[0], sibling))
            link = Link(
                status=LinkStatus.ACTIVE, pair=f"{low}-{high}", created_at=now, accepted_at=now
            )
            session.add(link)
            await session.flush()
            for community_id in (ids[0], sibling):
                session.add(
                    LinkSide(
                        link_id=link.id,
                        community_id=community_id,
                        platform="bench",
                        space="bench",
                        channel=f"link-{sibling}",
                        shares_knowledge=True,
                        consented_at=now,
                    )
                )


async def _counts(database: Database) -> dict[str, int]:
    found = {}
    async with database.engine.connect() as conn:
        for name in ("communities", "links", "link_sides"):
            found[name] = int(await conn.scalar(text(f"SELECT count(*) FROM {name}")) or 0)
        if database.dialect == "sqlite":
            found["insights_fts"] = int(
                await conn.scalar(text("SELECT count(*) FROM insights_fts")) or 0
            )
    return found


async def _size(database: Database) -> str:
    if database.dialect == "sqlite":
        path = Path(database.engine.url.database or "")
        return f"{_sqlite_size(path) / 2**20:,.1f} MiB (file + WAL)"
    async with database.engine.connect() as conn:
        whole = await conn.scalar(text("SELECT pg_database_size(current_database())"))
        insights = await conn.scalar(text("SELECT pg_total_relation_size('insights')"))
        gin = await conn.scalar(text("SELECT pg_relation_size('ix_insights_search_vector')"))
    return (
        f"{int(whole or 0) / 2**20:,.1f} MiB database; insights with indexes "
        f"{int(insights or 0) / 2**20:,.1f} MiB, of which GIN {int(gin or 0) / 2**20:,.1f} MiB"
    )


# --- searching --------------------------------------------------------------------------


@dataclass
class Side:
    seconds: list[float] = field(default_factory=list)
    plain: list[float] = field(default_factory=list)
    tagged: list[float] = field(default_factory=list)
    hits: list[int] = field(default_factory=list)
    totals: list[int] = field(default_factory=list)

    def add(self, seconds: float, tagged: bool, hits: int, total: int) -> None:
        self.seconds.append(seconds)
        (self.tagged if tagged else self.plain).append(seconds)
        self.hits.append(hits)
        self.totals.append(total)


@dataclass
class Measured:
    single: Side
    constellation: Side
    fewer: list[int]  # indexes of queries where the constellation found less (must be empty)
    queries: list[Query]
    slowest: int  # index of the slowest constellation query


def _search_query(
    q: Query, vocab: Vocabulary, community_id: int, shared_from: tuple[int, ...]
) -> SearchQuery:
    tags = (normalize_tags([vocab.tags[q.tag]])[0],) if q.tag is not None else ()
    return SearchQuery(
        community_id, terms=parse_terms(" ".join(q.words)), tags=tags, shared_from=shared_from
    )


async def measure(
    database: Database,
    args: argparse.Namespace,
    vocab: Vocabulary,
    qs: list[Query],
    community_id: int,
    siblings: tuple[int, ...],
) -> Measured:
    search = open_search(database)
    for q in qs[: args.warmup]:
        await search.search(_search_query(q, vocab, community_id, ()))
        await search.search(_search_query(q, vocab, community_id, siblings))
    single, constellation = Side(), Side()
    fewer: list[int] = []
    done: list[Query] = []
    with progress() as bar:
        task = bar.add_task("search (single + constellation)", total=len(qs), rate="")
        deadline = time.perf_counter() + args.search_seconds
        for i, q in enumerate(qs):
            if time.perf_counter() > deadline:
                console.print(
                    f"[yellow]stopped after {i} of {len(qs)} queries: --search-seconds "
                    f"{args.search_seconds:g} spent"
                )
                break
            order = ((), siblings) if i % 2 == 0 else (siblings, ())
            pages = {}
            for shared_from in order:
                sq = _search_query(q, vocab, community_id, shared_from)
                t0 = time.perf_counter()
                page = await search.search(sq)
                elapsed = time.perf_counter() - t0
                side = constellation if shared_from else single
                side.add(elapsed, q.tag is not None, len(page.hits), page.total)
                pages[bool(shared_from)] = page
            if pages[True].total < pages[False].total or len(pages[True].hits) < len(
                pages[False].hits
            ):
                fewer.append(i)
            done.append(q)
            bar.advance(task)
    slowest = max(range(len(done)), key=lambda k: constellation.seconds[k]) if done else 0
    return Measured(single, constellation, fewer, done, slowest)


# --- query plans ------------------------------------------------------------------------


async def explain(
    database: Database,
    sq: SearchQuery,
    label: str,
) -> None:
    """Capture the SQL `search()` sends for `sq` and print each statement's plan."""
    captured: list[tuple[str, Any]] = []

    def grab(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        captured.append((statement, parameters))

    event.listen(database.engine.sync_engine, "before_cursor_execute", grab)
    try:
        await open_search(database).search(sq)
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", grab)
    prefix = (
        "EXPLAIN QUERY PLAN "
        if database.dialect == "sqlite"
        else "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) "
    )
    console.rule(f"[bold]{label}")
    for statement, parameters in captured:
        if not statement.lstrip().upper().startswith("SELECT"):
            continue
        console.print(f"[dim]{' '.join(statement.split())[:400]}")
        console.print(f"[dim]params: {parameters}")
        async with database.engine.connect() as conn:
            result = await conn.exec_driver_sql(prefix + statement, parameters)
            for row in result.all():
                console.print("   " + " | ".join(str(v) for v in row), markup=False)


# --- report -----------------------------------------------------------------------------


def _ms(samples: Sequence[float], p: float | None = None) -> float:
    return (max(samples) if p is None else percentile(samples, p)) * 1000


def _mean(values: Sequence[int]) -> float:
    return sum(values) / len(values) if values else float("nan")


def report(
    args: argparse.Namespace,
    backend: str,
    loaded: Loaded,
    counts: dict[str, int],
    size: str,
    siblings: tuple[int, ...],
    m: Measured,
    server: str,
) -> None:
    n = len(m.queries)
    console.print(
        f"[bold]Data:[/bold] {args.communities} communities × {args.per_community:,} insights "
        f"(seed {args.seed}); rows: "
        + ", ".join(f"{k} {v:,}" for k, v in {**loaded.rows, **counts}.items())
    )
    console.print(
        f"[bold]Shared:[/bold] siblings share {loaded.shared:,} insights with community 0; "
        f"it adopted {loaded.adopted:,} of them (their originals leave its constellation "
        "results, its copies stay in both)"
    )
    console.print(f"[bold]Database size:[/bold] {size}")
    console.print(
        f"[bold]Load time:[/bold] {loaded.seconds:,.1f} s "
        f"({loaded.rows['insights'] / loaded.seconds:,.0f} insights/s incl. sources and tags"
        f"{', ANALYZE' if backend == 'postgresql' else ''})"
    )
    console.print(
        f"[bold]Scope:[/bold] SharedKnowledge.scope(community 0) = {len(siblings)} siblings "
        f"{list(siblings)}"
    )

    table = Table(
        title=f"{backend}: {n} queries, each as community 0 alone and as the constellation"
    )
    for name in (
        "",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "max ms",
        "avg hits/page",
        "avg total",
        "≥1 hit",
    ):
        table.add_column(name, justify="right" if name else "left")

    def row(label: str, side: Side) -> list[str]:
        return [
            label,
            *(f"{_ms(side.seconds, p):,.2f}" for p in (50, 95, 99)),
            f"{_ms(side.seconds):,.2f}",
            f"{_mean(side.hits):.2f}",
            f"{_mean(side.totals):,.1f}",
            f"{sum(h > 0 for h in side.hits)}/{n}",
        ]

    table.add_row(*row("single", m.single))
    table.add_row(*row("constellation", m.constellation))
    ratio = [_ms(m.constellation.seconds, p) / _ms(m.single.seconds, p) for p in (50, 95, 99, None)]
    table.add_row(
        "ratio",
        *(f"{r:.2f}×" for r in ratio),
        f"{_mean(m.constellation.hits) / _mean(m.single.hits):.2f}×",
        f"{_mean(m.constellation.totals) / _mean(m.single.totals):.2f}×",
        "",
    )
    console.print(table)

    split = Table(title="p50 / p95 ms by query kind")
    split.add_column("")
    split.add_column("single", justify="right")
    split.add_column("constellation", justify="right")
    for label, attr in (("words only", "plain"), ("words + tag filter", "tagged")):
        cells = []
        for side in (m.single, m.constellation):
            samples = getattr(side, attr)
            cells.append(
                f"{_ms(samples, 50):,.2f} / {_ms(samples, 95):,.2f} (n={len(samples)})"
                if samples
                else "—"
            )
        split.add_row(label, *cells)
    console.print(split)

    if m.fewer:
        console.print(
            f"[red bold]constellation returned fewer results than single for {len(m.fewer)} "
            f"queries, e.g. {[m.queries[i].words for i in m.fewer[:5]]}"
        )
    else:
        console.print("Constellation ≥ single (total and page) for every query: yes")
    slow = m.queries[m.slowest]
    console.print(
        f"Slowest constellation query: {' '.join(slow.words)!r}"
        f"{' + tag' if slow.tag is not None else ''} "
        f"{m.constellation.seconds[m.slowest] * 1000:,.1f} ms "
        f"(single {m.single.seconds[m.slowest] * 1000:,.1f} ms, "
        f"{m.constellation.totals[m.slowest]:,} matches)"
    )
    info = machine_info(**({"PostgreSQL": server} if server else {}))
    info["peak RSS"] = f"{peak_rss_mib():,.0f} MiB"
    for key, value in info.items():
        console.print(f"[bold]{key}:[/bold] {value}")


# --- main -------------------------------------------------------------------------------


async def run(url: str, args: argparse.Namespace, backend: str) -> None:
    vocab = build_vocabulary(args.seed)
    qs = queries(args.seed, args.queries, vocab)
    database = open_database(url)
    try:
        await upgrade(database)
        async with database.engine.connect() as conn:
            existing = await conn.scalar(select(func.count()).select_from(Community))
        if existing:
            console.print(
                f"[yellow]The database already holds {existing} communities; the bench adds "
                "its own and measures those, but sizes include the rest"
            )
        loaded = await load(database, args, vocab)
        community_id, expected = loaded.community_ids[0], loaded.community_ids[1:]
        scope = await SharedKnowledge(database).scope(community_id)
        if sorted(scope.ids) != sorted(expected):
            raise SystemExit(f"links are wrong: scope {scope.ids}, expected {expected}")
        for sibling in expected:  # siblings see community 0 only (not one another)
            theirs = (await SharedKnowledge(database).scope(sibling)).ids
            if theirs != (community_id,):
                raise SystemExit(f"links are wrong: scope of {sibling} is {theirs}")
        counts = await _counts(database)
        size = await _size(database)
        measured = await measure(database, args, vocab, qs, community_id, scope.ids)
        server = ""
        if database.dialect == "postgresql":
            async with database.engine.connect() as conn:
                server = str(await conn.scalar(text("SHOW server_version")))
        report(args, backend, loaded, counts, size, scope.ids, measured, server)
        if args.explain and measured.queries:
            slow = measured.queries[measured.slowest]
            for shared_from, label in (((), "single"), (scope.ids, "constellation")):
                await explain(
                    database,
                    _search_query(slow, vocab, community_id, shared_from),
                    f"plan, slowest constellation query, {label}: {' '.join(slow.words)!r}",
                )
    finally:
        await database.dispose()


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--per-community",
        type=int,
        help=f"insights per community (default {DEFAULT_PER_COMMUNITY:,})",
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK_PER_COMMUNITY:,} insights per community"
    )
    parser.add_argument("--communities", type=int, default=10, help="community 0 + siblings")
    parser.add_argument(
        "--shared", type=float, default=0.3, help="fraction shared (⅔ constellation, ⅓ public)"
    )
    parser.add_argument(
        "--adopted",
        type=float,
        default=0.01,
        help="fraction of siblings' shared ones community 0 adopted",
    )
    parser.add_argument("--members", type=int, default=300, help="per community")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=20, help="untimed queries first (both kinds)")
    parser.add_argument(
        "--search-seconds", type=float, default=600, help="stop timed queries after this long"
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--explain", action="store_true", help="print plans of the slowest query")
    parser.add_argument(
        "--database-url",
        help="an empty database (e.g. postgresql://...); default: a fresh SQLite file in a temp dir",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp directory")
    args = parser.parse_args(argv)
    if args.per_community is None:
        args.per_community = QUICK_PER_COMMUNITY if args.quick else DEFAULT_PER_COMMUNITY
    if args.per_community < 1 or args.queries < 1 or args.communities < 2:
        parser.error("--per-community and --queries must be positive, --communities at least 2")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if not console.is_terminal:
        console.width = max(console.width, 110)  # tables unwrapped in logs
    with workspace("hearth-constellation-", args.database_url, args.keep, console.print) as work:
        asyncio.run(run(work.url, args, work.backend))


if __name__ == "__main__":
    main()
