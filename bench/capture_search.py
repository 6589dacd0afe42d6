"""Capture throughput and search latency of Hearth's store, next to raw SQLite FTS5.

Why the comparison: Hearth captures one insight per transaction through SQLAlchemy's
async ORM (member lookup, source upsert, insight insert with FTS5 triggers, tags, a
read-back view) and searches with joins, filters and a COUNT(*) total. Raw FTS5 over the
same texts, via the stdlib `sqlite3` module, is the floor the engine itself sets. The gap
between the two columns is what the store's own layers cost, so a regression or an
optimisation shows up as a change in the gap, not as noise in absolute numbers that
depend on the machine.

    .venv/bin/python bench/capture_search.py --count 2000      # smoke test
    .venv/bin/python bench/capture_search.py                   # 100,000 insights
    .venv/bin/python bench/capture_search.py --full            # 1,000,000 insights
    .venv/bin/python bench/capture_search.py --database-url postgresql://u@host/db

The corpus is synthetic but deterministic (seeded): sentences drawn from a fixed
vocabulary with a Zipf-like word distribution, 1-3 tags per insight from 200 tags. The
raw FTS5 table has the same tokenizer and a third column holding each insight's tags as
opaque tokens (`tag042`), so a query's tag filter becomes a column filter in MATCH;
ranking uses the same bm25 weights as Hearth (title 4, body 1, tags 0). That column also
lengthens each row, which shifts bm25's length normalisation a little, so a few top-10
sets differ between the two; the report counts how many agree.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from measure import machine_info, peak_rss_mib, percentile, workspace
from sqlalchemy import insert, text

from knowledge.capture_writer import CaptureRow, Pending, time_binder, write_batch
from knowledge.db import Database, open_database
from knowledge.directory import Directory
from knowledge.export import FORMAT
from knowledge.importer import import_jsonl
from knowledge.insights import InsightStore
from knowledge.migrate import upgrade
from knowledge.models import Insight, InsightTag, Source, Tag
from knowledge.search import SearchQuery, open_search, parse_terms
from knowledge.search.sqlite_fts import fts5_expression
from knowledge.views import MemberInfo, SourceMessage

console = Console()

TOKENIZER = "porter unicode61 remove_diacritics 2"
HIGHLIGHT = "**"
DEFAULT_COUNT = 100_000
FULL_COUNT = 1_000_000
RAW_CHUNK = 20_000
BULK_BATCH = 5_000

# --- vocabulary -------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return text.split()


FUNCTION_WORDS = _words(
    """
the of and to a in is that it for you was on with as are be this have at or not by but
we they from i can if what all so one there their more when which do about will an out
up just would my your them how some like then our time no has other into than could also
its very been any these two only over first should much most after where make even
because way well new get may use good who work see while many through still know going
want here need those think really same off every back something try each both before
"""
)

CONTENT_WORDS = _words(
    """
review code test tests testing pairing pair deploy deployment release branch merge
commit rebase pipeline build cache latency query index schema migration database table
column row transaction lock queue worker retry timeout backoff metric dashboard alert
incident postmortem runbook oncall pager rollback feature flag toggle experiment
hypothesis user customer feedback interview research design prototype sketch wireframe
accessibility contrast keyboard screen reader onboarding mentor mentee newcomer handbook
guide doc docs documentation readme tutorial example snippet pattern antipattern
refactor rename extract inline module package dependency upgrade version semver
changelog ticket backlog sprint retro retrospective standup estimate scope deadline
priority roadmap milestone goal outcome habit ritual meeting agenda notes decision
record tradeoff constraint budget risk security secret token password vault audit
compliance privacy consent policy license contributor maintainer issue bug regression
flaky crash memory leak profile profiler benchmark throughput bottleneck slow fast
latency p95 garden compost soil seed seedling tomato basil mulch water sunlight shade
prune harvest bread dough yeast sourdough starter flour oven crust knead proof recipe
spice garlic onion broth simmer roast bake café naïve résumé coffee tea espresso grinder
kettle bicycle chain tyre brake commute route map trail hike camp tent stove knot rope
climb belay harness guitar chord scale practice metronome tempo rhythm melody song lyric
choir rehearsal concert teacher student lesson exercise homework curriculum feedback
rubric grade essay draft outline argument evidence source citation library archive photo
camera lens aperture exposure light frame edit print paper ink pen notebook journal
reflection kindness trust conflict apology listening question answer curiosity patience
focus energy rest sleep walk break pomodoro calendar inbox email chat thread channel
emoji reaction mention bot command search tag insight capture digest summary weekly
monthly quarterly annual community steward curator member volunteer event meetup
workshop talk slide speaker venue ticket sponsor newsletter blog post article podcast
episode video stream recording transcript translation language grammar vocabulary accent
idiom python rust golang javascript typescript sql postgres sqlite redis kafka docker
kubernetes terraform ansible linux kernel shell bash vim emacs editor terminal git
"""
)

TAG_BASES = _words(
    """
review testing deploy ops security privacy design research onboarding mentoring docs
writing cooking baking gardening cycling hiking music teaching learning career health
focus habits meetings planning retro incident performance database frontend backend
mobile data ml infra cloud python rust go js sql accessibility ux community events
"""
)


def _pseudo_words(rng: random.Random, count: int, taken: set[str]) -> list[str]:
    onsets = [
        "b",
        "br",
        "c",
        "ch",
        "d",
        "dr",
        "f",
        "fl",
        "g",
        "gr",
        "h",
        "j",
        "k",
        "l",
        "m",
        "n",
        "p",
        "pl",
        "qu",
        "r",
        "s",
        "sh",
        "st",
        "t",
        "th",
        "tr",
        "v",
        "w",
        "z",
    ]
    vowels = ["a", "e", "i", "o", "u", "ai", "ea", "ee", "io", "ou", "y"]
    codas = ["", "", "n", "r", "s", "t", "l", "m", "nd", "st", "ck", "ng", "x"]
    words: list[str] = []
    while len(words) < count:
        syllables = rng.choice((1, 2, 2, 2, 3, 3, 4))
        word = "".join(rng.choice(onsets) + rng.choice(vowels) for _ in range(syllables))
        word += rng.choice(codas)
        if word not in taken:
            taken.add(word)
            words.append(word)
    return words


@dataclass(frozen=True)
class Vocabulary:
    words: list[str]  # rank order: most frequent first
    cum_weights: list[float]
    query_words: list[str]
    query_cum_weights: list[float]
    tags: list[str]
    tag_cum_weights: list[float]


def zipf_cum_weights(n: int, exponent: float) -> list[float]:
    return list(itertools.accumulate(1.0 / (rank**exponent) for rank in range(1, n + 1)))


def build_vocabulary(seed: int, size: int = 20_000, tags: int = 200) -> Vocabulary:
    rng = random.Random(seed)
    functions = list(dict.fromkeys(FUNCTION_WORDS))
    content = [w for w in dict.fromkeys(CONTENT_WORDS) if w not in set(functions)]
    rng.shuffle(content)
    taken = set(functions) | set(content)
    words = functions + content + _pseudo_words(rng, size - len(functions) - len(content), taken)
    # Queries use content words (people do not search for "the"), still Zipf-skewed so
    # some queries hit tens of thousands of rows and others a handful.
    query_words = words[len(functions) :]
    tag_names = list(TAG_BASES)
    suffixes = ["tips", "notes", "howto", "pitfalls", "tools", "101", "deep-dive", "faq"]
    for base, suffix in itertools.product(TAG_BASES, suffixes):
        if len(tag_names) >= tags:
            break
        tag_names.append(f"{base}-{suffix}")
    rng.shuffle(tag_names)
    return Vocabulary(
        words=words,
        cum_weights=zipf_cum_weights(len(words), 1.0),
        query_words=query_words,
        query_cum_weights=zipf_cum_weights(len(query_words), 0.9),
        tags=tag_names[:tags],
        tag_cum_weights=zipf_cum_weights(min(tags, len(tag_names)), 0.8),
    )


# --- corpus -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    index: int
    title: str | None
    body: str
    tags: tuple[int, ...]  # indexes into Vocabulary.tags
    author: int
    curator: int


def _sentence(rng: random.Random, vocab: Vocabulary) -> str:
    words = rng.choices(vocab.words, cum_weights=vocab.cum_weights, k=rng.randint(5, 18))
    if len(words) > 8 and rng.random() < 0.3:
        words[rng.randrange(3, len(words) - 2)] += ","
    return words[0].capitalize() + " " + " ".join(words[1:]) + rng.choice("....?!")


def corpus(seed: int, count: int, vocab: Vocabulary, members: int) -> Iterator[Item]:
    """The same items, in the same order, every time it is called with the same seed."""
    rng = random.Random(seed * 7919 + 1)
    for index in range(count):
        sentences = rng.choices((1, 2, 3, 4, 6), weights=(30, 30, 20, 12, 8))[0]
        body = " ".join(_sentence(rng, vocab) for _ in range(sentences))
        title = None
        if rng.random() < 0.25:
            words = rng.choices(vocab.query_words, cum_weights=vocab.query_cum_weights, k=3)
            title = " ".join(words).capitalize()
        n_tags = rng.choices((1, 2, 3), weights=(50, 35, 15))[0]
        tags = tuple(
            sorted(
                set(
                    rng.choices(range(len(vocab.tags)), cum_weights=vocab.tag_cum_weights, k=n_tags)
                )
            )
        )
        yield Item(index, title, body, tags, rng.randrange(members), rng.randrange(members))


@dataclass(frozen=True)
class Query:
    words: tuple[str, ...]
    tag: int | None


def queries(seed: int, count: int, vocab: Vocabulary) -> list[Query]:
    rng = random.Random(seed * 104729 + 2)
    result: list[Query] = []
    for _ in range(count):
        n = rng.choices((1, 2, 3), weights=(45, 40, 15))[0]
        words = tuple(rng.choices(vocab.query_words, cum_weights=vocab.query_cum_weights, k=n))
        tag = None
        if rng.random() < 0.3:
            tag = rng.choices(range(len(vocab.tags)), cum_weights=vocab.tag_cum_weights)[0]
        result.append(Query(words, tag))
    return result


# --- measurement helpers ----------------------------------------------------------------


@dataclass
class Latency:
    all: list[float]
    plain: list[float]
    tagged: list[float]
    with_hits: int = 0

    @classmethod
    def empty(cls) -> Latency:
        return cls([], [], [])

    def add(self, seconds: float, tagged: bool, hits: int) -> None:
        self.all.append(seconds)
        (self.tagged if tagged else self.plain).append(seconds)
        self.with_hits += hits > 0


def progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


# --- Hearth -----------------------------------------------------------------------------


@dataclass
class HearthResult:
    seconds: float  # the concurrent captures
    captured: int  # how many of them
    single: list[float]  # latency of each capture made one at a time
    latency: Latency
    top10_ids: list[list[int]]  # per query, corpus indexes of the hits
    size_bytes: int | None
    imported: tuple[int, float]  # lines, seconds of `hearth import`'s path


async def run_import(
    database: Database,
    directory: Directory,
    args: argparse.Namespace,
    vocab: Vocabulary,
    run_id: str,
) -> tuple[int, float]:
    """`hearth import` of an export file (the corpus again) into a new community."""
    count = min(args.import_count, args.count)
    if count < 1:
        return 0, 0.0
    community = await directory.ensure_community(f"import-{run_id}", "Import", "UTC")
    path = Path(tempfile.mkdtemp(prefix="hearth-import-")) / "export.jsonl"
    base_time = datetime(2024, 1, 1, tzinfo=UTC)
    with path.open("w", encoding="utf-8") as out:
        for item in corpus(args.seed, count, vocab, args.members):
            record = {
                "format": FORMAT,
                "title": item.title,
                "body": item.body,
                "tags": [vocab.tags[t] for t in item.tags],
                "author_name": f"User {item.author}",
                "curator_name": f"User {item.curator}",
                "source_platform": "import-bench",
                "source_space": "bench",
                "source_channel": run_id,
                "source_message_id": str(item.index),
                "permalink": None,
                "created_at": (base_time + timedelta(seconds=item.index)).isoformat(),
            }
            out.write(json.dumps(record) + "\n")
    try:
        t0 = time.perf_counter()
        summary = await import_jsonl(InsightStore(database), directory, community, path)
        seconds = time.perf_counter() - t0
    finally:
        path.unlink()
        path.parent.rmdir()
    assert summary.created == count and not summary.errors, summary
    return count, seconds


async def run_hearth(
    url: str, args: argparse.Namespace, vocab: Vocabulary, qs: list[Query], run_id: str
) -> HearthResult:
    database = open_database(url)
    try:
        await upgrade(database)
        directory = Directory(database)
        community = await directory.ensure_community(f"bench-{run_id}", "Bench", "UTC")
        members: list[MemberInfo] = []
        for m in range(args.members):
            members.append(
                await directory.resolve_member(community.id, "bench", f"user{m}", f"User {m}")
            )
        store = InsightStore(database)
        items = corpus(args.seed, args.count, vocab, args.members)

        single: list[float] = []  # one capture at a time: its latency
        if args.bulk:  # rows as captures write them, to measure search sooner
            rest = args.count
            seconds = await bulk_load(database, community.id, members, items, vocab, run_id)
        else:
            base_time = datetime(2024, 1, 1, tzinfo=UTC)
            channel = f"bench-{run_id}"

            def source_of(item: Item) -> SourceMessage:
                return SourceMessage(
                    platform="bench",
                    space="bench",
                    channel=channel,
                    message_id=str(item.index),
                    text=item.body,
                    author_user_id=f"user{item.author}",
                    author_name=f"User {item.author}",
                    permalink=f"bench://{run_id}/{item.index}",
                    posted_at=base_time + timedelta(seconds=item.index),
                )

            async def capture(item: Item) -> None:
                await store.capture(
                    community.id,
                    source_of(item),
                    curator=members[item.curator],
                    title=item.title,
                    tags=[vocab.tags[t] for t in item.tags],
                )

            for item in itertools.islice(items, min(args.single, args.count)):
                t0 = time.perf_counter()
                await capture(item)
                single.append(time.perf_counter() - t0)
            rest = args.count - len(single)

            with progress() as bar:
                task = bar.add_task("Hearth capture", total=rest, rate="")
                done = 0
                seconds = 0.0  # capturing only: the corpus is generated between chunks

                async def worker(chunk: Iterator[Item]) -> None:
                    nonlocal done
                    for item in chunk:  # shared iterator: each item is taken by one worker
                        await capture(item)
                        done += 1
                        if done % 200 == 0 or done == rest:
                            rate = done / (seconds + time.perf_counter() - started)
                            bar.update(task, completed=done, rate=f"{rate:,.0f}/s")
                            if not console.is_terminal and done % max(rest // 20, 200) == 0:
                                console.print(f"captured {done:,} of {rest:,} ({rate:,.0f}/s)")

                while chunk := list(itertools.islice(items, RAW_CHUNK)):
                    started = time.perf_counter()
                    shared = iter(chunk)
                    await asyncio.gather(*(worker(shared) for _ in range(args.concurrency)))
                    seconds += time.perf_counter() - started

        search = open_search(database)
        latency = Latency.empty()
        top10: list[list[int]] = []

        def to_query(q: Query) -> SearchQuery:
            tags = (vocab.tags[q.tag],) if q.tag is not None else ()
            return SearchQuery(community.id, terms=parse_terms(" ".join(q.words)), tags=tags)

        warm_until = time.perf_counter() + args.search_seconds / 10
        for q in qs[: args.warmup]:
            if time.perf_counter() > warm_until:
                break
            await search.search(to_query(q))
        with progress() as bar:
            task = bar.add_task("Hearth search", total=len(qs), rate="")
            deadline = time.perf_counter() + args.search_seconds
            for q in qs:
                if time.perf_counter() > deadline:
                    console.print(
                        f"[yellow]Hearth search stopped after {len(top10)} of {len(qs)} queries: "
                        f"--search-seconds {args.search_seconds:g} spent; raw FTS5 runs the same "
                        "queries"
                    )
                    break
                sq = to_query(q)
                t0 = time.perf_counter()
                page = await search.search(sq)
                latency.add(time.perf_counter() - t0, q.tag is not None, len(page.hits))
                top10.append([int((h.permalink or "/-1").rsplit("/", 1)[1]) for h in page.hits])
                bar.advance(task)
        path = database.engine.url.database if database.dialect == "sqlite" else None
        size = _sqlite_size(Path(path)) if path else None
        imported = await run_import(database, directory, args, vocab, run_id)
        return HearthResult(seconds, rest, single, latency, top10, size, imported)
    finally:
        await database.dispose()


async def bulk_load(
    database: Database,
    community_id: int,
    members: list[MemberInfo],
    items: Iterator[Item],
    vocab: Vocabulary,
    run_id: str,
) -> float:
    """`--bulk`: the same rows as captures would write (the FTS triggers still run), in
    batches of BULK_BATCH, so 100k and 1M are ready for searching in minutes."""
    base_time = datetime(2024, 1, 1, tzinfo=UTC)
    started = time.perf_counter()
    async with database.sessions.begin() as session:
        tag_ids = (
            await session.scalars(
                insert(Tag).returning(Tag.id, sort_by_parameter_order=True),
                [{"community_id": community_id, "name": name} for name in vocab.tags],
            )
        ).all()
    done = 0
    while batch := list(itertools.islice(items, BULK_BATCH)):
        async with database.sessions.begin() as session:
            source_ids = (
                await session.scalars(
                    insert(Source).returning(Source.id, sort_by_parameter_order=True),
                    [
                        {
                            "community_id": community_id,
                            "platform": "bench",
                            "space": "bench",
                            "channel": f"bench-{run_id}",
                            "message_id": str(item.index),
                            "author_member_id": members[item.author].id,
                            "text": item.body,
                            "permalink": f"bench://{run_id}/{item.index}",
                            "posted_at": base_time + timedelta(seconds=item.index),
                        }
                        for item in batch
                    ],
                )
            ).all()
            insight_ids = (
                await session.scalars(
                    insert(Insight).returning(Insight.id, sort_by_parameter_order=True),
                    [
                        {
                            "community_id": community_id,
                            "source_id": source_id,
                            "title": item.title,
                            "body": item.body,
                            "author_member_id": members[item.author].id,
                            "curator_member_id": members[item.curator].id,
                            "created_at": base_time + timedelta(seconds=item.index),
                            "updated_at": base_time + timedelta(seconds=item.index),
                        }
                        for source_id, item in zip(source_ids, batch, strict=True)
                    ],
                )
            ).all()
            await session.execute(
                insert(InsightTag),
                [
                    {"insight_id": insight_id, "tag_id": tag_ids[t]}
                    for insight_id, item in zip(insight_ids, batch, strict=True)
                    for t in item.tags
                ],
            )
        done += len(batch)
        if done % 50_000 == 0 or len(batch) < BULK_BATCH:
            console.print(f"bulk-loaded {done:,}")
    if database.dialect == "postgresql":  # the planner needs statistics (autovacuum may be off)
        async with database.engine.begin() as connection:
            await connection.execute(text("ANALYZE"))
    return time.perf_counter() - started


def _sqlite_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if p.is_file())


# --- raw FTS5 ---------------------------------------------------------------------------


@dataclass
class RawResult:
    seconds: float
    generate_seconds: float
    latency: Latency
    count_latency: list[float]
    top10_ids: list[list[int]]
    size_bytes: int


def _quoted(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def raw_tags(item: Item) -> str:
    return " ".join(f"tag{t:03d}" for t in item.tags)


def raw_match(q: Query, relaxed: bool = False) -> str:
    """Hearth's own FTS5 expression for the words (every one, or any content word)."""
    expression = "(" + fts5_expression(parse_terms(" ".join(q.words)), relaxed=relaxed) + ")"
    if q.tag is not None:
        expression += f" AND tags : {_quoted(f'tag{q.tag:03d}')}"
    return expression


def run_raw(path: Path, args: argparse.Namespace, vocab: Vocabulary, qs: list[Query]) -> RawResult:
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute(f"CREATE VIRTUAL TABLE t USING fts5(title, body, tags, tokenize='{TOKENIZER}')")
        insert = "INSERT INTO t(rowid, title, body, tags) VALUES (?, ?, ?, ?)"
        items = corpus(args.seed, args.count, vocab, args.members)
        seconds = generate = 0.0
        with progress() as bar:
            task = bar.add_task("raw FTS5 insert", total=args.count, rate="")
            db.execute("BEGIN")
            done = 0
            while True:
                t0 = time.perf_counter()
                rows = [
                    (it.index + 1, it.title or "", it.body, raw_tags(it))
                    for it in itertools.islice(items, RAW_CHUNK)
                ]
                generate += time.perf_counter() - t0
                if not rows:
                    break
                t0 = time.perf_counter()
                db.executemany(insert, rows)
                seconds += time.perf_counter() - t0
                done += len(rows)
                bar.update(task, completed=done, rate=f"{done / seconds:,.0f}/s")
            t0 = time.perf_counter()
            db.execute("COMMIT")
            seconds += time.perf_counter() - t0

        select = (
            f"SELECT rowid, snippet(t, 1, '{HIGHLIGHT}', '{HIGHLIGHT}', '…', 24) FROM t "
            "WHERE t MATCH ? ORDER BY bm25(t, 4.0, 1.0, 0.0) LIMIT 10"
        )
        for q in qs[: args.warmup]:
            db.execute(select, (raw_match(q),)).fetchall()
        latency = Latency.empty()
        counts: list[float] = []
        top10: list[list[int]] = []
        for q in qs:
            match = raw_match(q)
            t0 = time.perf_counter()
            rows = db.execute(select, (match,)).fetchall()
            if len(rows) < 10 and parse_terms(" ".join(q.words)).relaxable:  # as Hearth does
                rows = db.execute(select, (raw_match(q, relaxed=True),)).fetchall()
            latency.add(time.perf_counter() - t0, q.tag is not None, len(rows))
            top10.append([r[0] - 1 for r in rows])  # rowid = corpus index + 1
            t0 = time.perf_counter()
            db.execute("SELECT count(*) FROM t WHERE t MATCH ?", (match,)).fetchone()
            counts.append(time.perf_counter() - t0)
    finally:
        db.close()
    return RawResult(seconds, generate, latency, counts, top10, _sqlite_size(path))


def run_hearth_sql_per_txn(
    url: str, args: argparse.Namespace, vocab: Vocabulary, run_id: str
) -> RawTxnResult:
    """A second floor: Hearth's own capture SQL (its schema, its FTS5 triggers, the same
    statements) run by sqlite3 directly, one transaction per insight: what is left when
    the asyncio, thread-hop and Python layers cost nothing."""

    async def prepare() -> tuple[Database, int, list[int], Any]:
        database = open_database(url)
        await upgrade(database)
        directory = Directory(database)
        community = await directory.ensure_community(f"floor-{run_id}", "Floor", "UTC")
        ids = [
            (await directory.resolve_member(community.id, "bench", f"user{m}", f"User {m}")).id
            for m in range(args.members)
        ]
        return database, community.id, ids, time_binder(database)

    database, community_id, curators, bind_time = asyncio.run(prepare())
    asyncio.run(database.dispose())
    db = sqlite3.connect(str(database.engine.url.database), isolation_level=None)
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("PRAGMA synchronous = NORMAL")
    base_time = datetime(2024, 1, 1, tzinfo=UTC)
    loop = asyncio.new_event_loop()  # only to create the futures write_batch settles

    def one(it: Item) -> None:
        source = SourceMessage(
            "bench",
            "bench",
            run_id,
            str(it.index),
            it.body,
            f"user{it.author}",
            f"User {it.author}",
            f"bench://{run_id}/{it.index}",
            posted_at=base_time + timedelta(seconds=it.index),
        )
        row = CaptureRow(
            community_id,
            source,
            curators[it.curator],
            it.body,
            it.title,
            tuple(sorted({vocab.tags[t] for t in it.tags})),
            base_time,
        )
        outcome = write_batch(db, [Pending(row, loop.create_future())], bind_time)
        assert not isinstance(outcome[0], BaseException), outcome

    try:
        items = corpus(args.seed, args.count, vocab, args.members)
        return timed_one_by_one(items, one, min(args.single, args.count))
    finally:
        db.close()
        loop.close()


@dataclass
class RawTxnResult:
    seconds: float  # the captures after the first `single`, one transaction each
    captured: int
    single: list[float]


def timed_one_by_one(
    items: Iterator[Item], one: Callable[[Item], None], first: int
) -> RawTxnResult:
    """Time `one` per item: the first `first` one by one (latency), the rest summed."""
    single: list[float] = []
    for it in itertools.islice(items, first):
        t0 = time.perf_counter()
        one(it)
        single.append(time.perf_counter() - t0)
    seconds, done = 0.0, 0
    for it in items:
        t0 = time.perf_counter()
        one(it)
        seconds += time.perf_counter() - t0
        done += 1
    return RawTxnResult(seconds, done, single)


def run_raw_per_txn(path: Path, args: argparse.Namespace, vocab: Vocabulary) -> RawTxnResult:
    """The floor for a chat capture: sqlite3, the raw FTS5 table, one transaction (BEGIN
    IMMEDIATE, INSERT, COMMIT) per insight, WAL with synchronous=NORMAL as Hearth."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute(f"CREATE VIRTUAL TABLE t USING fts5(title, body, tags, tokenize='{TOKENIZER}')")
        insert = "INSERT INTO t(rowid, title, body, tags) VALUES (?, ?, ?, ?)"
        items = corpus(args.seed, args.count, vocab, args.members)

        def one(it: Item) -> None:
            db.execute("BEGIN IMMEDIATE")
            db.execute(insert, (it.index + 1, it.title or "", it.body, raw_tags(it)))
            db.execute("COMMIT")

        return timed_one_by_one(items, one, min(args.single, args.count))
    finally:
        db.close()


# --- report -----------------------------------------------------------------------------


def _ms(samples: Sequence[float], ps: Sequence[int] = (50, 95, 99)) -> str:
    if not samples:
        return "—"
    return " / ".join(f"{percentile(samples, p) * 1000:.2f}" for p in ps)


def _mib(size: int | None) -> str:
    return "—" if size is None else f"{size / 2**20:,.1f} MiB"


def report(
    args: argparse.Namespace,
    backend: str,
    hearth: HearthResult,
    raw: RawResult,
    per_txn: RawTxnResult,
    own_sql: RawTxnResult,
    n_queries: int,
) -> None:
    table = Table(title=f"{args.count:,} insights, {n_queries} queries (seed {args.seed})")
    table.add_column("")
    table.add_column(
        f"Hearth store API ({backend}, concurrency {args.concurrency})", justify="right"
    )
    table.add_column("raw FTS5 (sqlite3, one transaction)", justify="right")
    h_rate = hearth.captured / hearth.seconds if hearth.captured else 0.0
    r_rate = args.count / raw.seconds
    t_rate = per_txn.captured / per_txn.seconds if per_txn.captured else 0.0
    i_rate = hearth.imported[0] / hearth.imported[1] if hearth.imported[0] else 0.0
    table.add_row(
        f"capture throughput ({args.concurrency} concurrent) vs one txn per row",
        f"{h_rate:,.0f} insights/s",
        f"{t_rate:,.0f} rows/s",
    )
    table.add_row(
        "single capture p50 / p95 (ms) vs one txn per row",
        _ms(hearth.single, (50, 95)),
        _ms(per_txn.single, (50, 95)),
    )
    table.add_row(
        "`hearth import` vs bulk executemany", f"{i_rate:,.0f} insights/s", f"{r_rate:,.0f} rows/s"
    )
    table.add_row("search p50 / p95 / p99 (ms), all", _ms(hearth.latency.all), _ms(raw.latency.all))
    table.add_row("  … words only", _ms(hearth.latency.plain), _ms(raw.latency.plain))
    table.add_row("  … words + tag filter", _ms(hearth.latency.tagged), _ms(raw.latency.tagged))
    table.add_row(
        "  raw COUNT(*) of matches (Hearth counts up to 1,000)", "—", _ms(raw.count_latency)
    )
    table.add_row(
        "queries with ≥1 hit",
        f"{hearth.latency.with_hits}/{n_queries}",
        f"{raw.latency.with_hits}/{n_queries}",
    )
    table.add_row("database size", _mib(hearth.size_bytes), _mib(raw.size_bytes))
    console.print(table)

    same = sum(set(a) == set(b) for a, b in zip(hearth.top10_ids, raw.top10_ids, strict=True))
    console.print(
        f"Same top-10 set in both: {same}/{n_queries} queries (bm25 ties may order differently)"
    )
    p50_ratio = percentile(hearth.latency.all, 50) / percentile(raw.latency.all, 50)
    if h_rate and t_rate:
        console.print(
            f"capture, {args.concurrency} concurrent: {h_rate / t_rate:.2f}x the one-transaction-"
            "per-insight floor (goal >= 0.5x)"
        )
    if hearth.single and per_txn.single:
        ratio = percentile(hearth.single, 50) / percentile(per_txn.single, 50)
        console.print(f"single capture p50: {ratio:.2f}x the floor's (goal <= 4x)")
    o_rate = own_sql.captured / own_sql.seconds if own_sql.captured else 0.0
    if h_rate and o_rate and hearth.single and own_sql.single:
        ratio = percentile(hearth.single, 50) / percentile(own_sql.single, 50)
        console.print(
            f"beside Hearth's own SQL in sqlite3, one txn per insight ({o_rate:,.0f}/s, p50 "
            f"{percentile(own_sql.single, 50) * 1000:.2f} ms): throughput {h_rate / o_rate:.2f}x, "
            f"single p50 {ratio:.2f}x"
        )
    if i_rate:
        console.print(f"hearth import: {i_rate / r_rate:.2f}x the bulk floor (goal >= 0.5x)")
    p95_ratio = percentile(hearth.latency.all, 95) / percentile(raw.latency.all, 95)
    console.print(
        f"search p50 {p50_ratio:,.1f}x raw FTS5, p95 {p95_ratio:,.1f}x (goal, issue 17: p50 <= 3x)"
        + (" (rows bulk-loaded)" if args.bulk else "")
    )
    console.print(
        f"Corpus generation alone: {args.count / raw.generate_seconds:,.0f} items/s "
        "(excluded from every timed capture and insert, Hearth's and the floors')"
    )
    info = machine_info()
    info["peak RSS"] = f"{peak_rss_mib():,.0f} MiB"
    for key, value in info.items():
        console.print(f"[bold]{key}:[/bold] {value}")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, help=f"insights (default {DEFAULT_COUNT:,})")
    parser.add_argument("--full", action="store_true", help=f"{FULL_COUNT:,} insights")
    parser.add_argument(
        "--concurrency", type=int, default=8, help="concurrent capturers (asyncio tasks)"
    )
    parser.add_argument(
        "--single", type=int, default=500, help="first captures made one at a time (latency)"
    )
    parser.add_argument(
        "--import-count", type=int, default=20_000, help="lines imported by `hearth import`"
    )
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=20, help="untimed queries first")
    parser.add_argument(
        "--search-seconds",
        type=float,
        default=300,
        help="stop Hearth's timed queries after this long (raw FTS5 then runs the same ones)",
    )
    parser.add_argument("--members", type=int, default=300)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--database-url",
        help="Hearth database (e.g. postgresql://...); default: a fresh SQLite file in a temp dir",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp directory")
    parser.add_argument(
        "--bulk",
        action="store_true",
        help="insert Hearth's rows in batches instead of capturing one by one (search only)",
    )
    args = parser.parse_args(argv)
    if args.count is None:
        args.count = FULL_COUNT if args.full else DEFAULT_COUNT
    if args.count < 1 or args.concurrency < 1 or args.queries < 1:
        parser.error("--count, --concurrency and --queries must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    vocab = build_vocabulary(args.seed)
    qs = queries(args.seed, args.queries, vocab)
    run_id = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    with workspace("hearth-bench-", args.database_url, args.keep, console.print) as work:
        hearth = asyncio.run(run_hearth(work.url, args, vocab, qs, run_id))
        done = qs[: len(hearth.top10_ids)]  # the queries Hearth finished within its budget
        raw = run_raw(work.folder / "raw.db", args, vocab, done)
        per_txn = run_raw_per_txn(work.folder / "raw-txn.db", args, vocab)
        own_sql = run_hearth_sql_per_txn(
            f"sqlite:///{work.folder / 'floor.db'}", args, vocab, run_id
        )
        report(args, work.backend, hearth, raw, per_txn, own_sql, len(done))


if __name__ == "__main__":
    main()
