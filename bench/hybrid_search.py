"""Hybrid search latency at scale: full text alone beside full text + vectors, same run.

Why a separate script from capture_search.py: that one captures every insight through
`InsightStore.capture` (25 minutes for 100k), which is what it measures. Here the
insights are bulk-inserted (the FTS triggers still run) and embedded with the packaged
model in batches, so 100k and 1M insights are ready in minutes; the searches then go
through Hearth's own `open_search` (full text) and `SemanticIndex.search` (hybrid, what
/search does by default), one after the other on the same database.

    .venv/bin/python bench/hybrid_search.py --count 100000
    .venv/bin/python bench/hybrid_search.py --count 1000000
    .venv/bin/python bench/hybrid_search.py --count 100000 --database-url postgresql://u@127.0.0.1/db
    .venv/bin/python bench/hybrid_search.py --count 100000 --pgserver   # PostgreSQL + pgvector

Texts: each insight is one of the 130 insights of relevance_set.py with a few words of
another appended (so no two are alike); the queries are its 130 member questions. The
first hybrid search loads the vectors into memory (reported apart, with the RSS it
adds); percentiles are over the searches after it.

Vectors: `--embedder minilm` (packaged:minilm) takes milliseconds per text (far more on a
busy box), so by default each insight's vector is the model's vector of its base insight
plus half the model's vector of one of 1,000 four-word suffixes, normalised (every part
is a real embedding; the sum is not exactly the text's). `--embed-all` embeds every text
instead (always so with the default static model, which is fast).
Hybrid runs twice, interleaved: with the vector lists (`knowledge/vector_lists.py`,
what /search does) and scoring every vector (exact); the overlap of their top 30
neighbours is the lists' recall.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import machine_info, peak_rss_mib, percentile
from relevance_set import CORPUS, QUESTIONS
from sqlalchemy import insert, text

from adapters.local_embeddings import load_packaged_model
from adapters.minilm import load_minilm
from bot.assist.semantic import SemanticIndex
from knowledge.db import Database, open_database
from knowledge.directory import Directory
from knowledge.embeddings import STORED_DTYPE, EmbeddingStore
from knowledge.insights import InsightStore
from knowledge.migrate import upgrade
from knowledge.models import Insight, InsightEmbedding, Source
from knowledge.search import SearchQuery, open_search, parse_terms
from knowledge.search.sqlite_fts import fts5_expression
from knowledge.vector_cache import VectorCache

BATCH = 5000
MOMENT = datetime(2026, 1, 1, tzinfo=UTC)


def texts(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    words = [w for _, t in CORPUS for w in t.split()]
    return [f"{CORPUS[n % len(CORPUS)][1]} {' '.join(rng.sample(words, 4))}" for n in range(count)]


class MixedVectors:
    """Vectors for `texts(...)` from the model's vectors of its parts (see the docstring)."""

    def __init__(self, embedder: Any, seed: int) -> None:
        import numpy

        rng = random.Random(seed + 1)
        words = [w for _, t in CORPUS for w in t.split()]
        self.base = numpy.asarray(embedder.encode([t for _, t in CORPUS]), numpy.float32)
        suffixes = [" ".join(rng.sample(words, 4)) for _ in range(1000)]
        self.suffix = numpy.asarray(embedder.encode(suffixes), numpy.float32)
        self.rng = numpy.random.default_rng(seed)

    def encode(self, start: int, count: int) -> Any:
        import numpy

        rows = numpy.arange(start, start + count) % len(CORPUS)
        mixed = self.base[rows] + 0.5 * self.suffix[self.rng.integers(0, 1000, count)]
        return mixed / numpy.linalg.norm(mixed, axis=1, keepdims=True)


def load_embedder(name: str) -> Any:
    return load_minilm() if name == "minilm" else load_packaged_model()


async def load(
    database: Database, count: int, seed: int, embed_all: bool, embedder_name: str
) -> tuple[int, float, float]:
    """(community id, seconds inserting, seconds embedding)"""
    directory = Directory(database)
    community = await directory.ensure_community("bench", "Bench", "UTC")
    member = await directory.resolve_member(community.id, "console", "cora", "Cora")
    embedder = load_embedder(embedder_name)
    started = time.monotonic()
    mixed = None if embed_all or embedder_name != "minilm" else MixedVectors(embedder, seed)
    embedding = time.monotonic() - started
    all_texts = texts(count, seed)
    for start in range(0, count, BATCH):
        chunk = all_texts[start : start + BATCH]
        async with database.sessions.begin() as session:
            source_ids = (
                await session.scalars(
                    insert(Source).returning(Source.id),
                    [
                        {
                            "community_id": community.id,
                            "platform": "console",
                            "space": "local",
                            "channel": "general",
                            "message_id": str(start + n),
                            "author_member_id": member.id,
                            "text": text,
                            "posted_at": MOMENT,
                        }
                        for n, text in enumerate(chunk)
                    ],
                )
            ).all()
            insight_ids = (
                await session.scalars(
                    insert(Insight).returning(Insight.id),
                    [
                        {
                            "community_id": community.id,
                            "source_id": source_id,
                            "body": text,
                            "author_member_id": member.id,
                            "curator_member_id": member.id,
                            "created_at": MOMENT,
                            "updated_at": MOMENT,
                        }
                        for source_id, text in zip(source_ids, chunk, strict=True)
                    ],
                )
            ).all()
            began = time.monotonic()
            vectors = embedder.encode(chunk) if mixed is None else mixed.encode(start, len(chunk))
            embedding += time.monotonic() - began
            import numpy

            matrix = numpy.asarray(vectors, dtype=STORED_DTYPE)
            await session.execute(
                insert(InsightEmbedding),
                [
                    {
                        "insight_id": insight_id,
                        "model": embedder.name,
                        "dims": matrix.shape[1],
                        "vector": matrix[n].tobytes(),
                        "updated_at": MOMENT,
                    }
                    for n, insight_id in enumerate(insight_ids)
                ],
            )
        print(f"\r  loaded {min(start + BATCH, count):,} / {count:,}", end="", flush=True)
    print()
    return community.id, time.monotonic() - started - embedding, embedding


def _ms(samples: list[float]) -> str:
    return (
        f"p50 {percentile(samples, 50) * 1000:7.1f} ms   p95 {percentile(samples, 95) * 1000:7.1f}"
        f" ms   max {max(samples) * 1000:7.1f} ms"
    )


SQLITE_FLOOR = (
    "SELECT rowid, snippet(insights_fts, 1, '**', '**', '…', 24) FROM insights_fts"
    " WHERE insights_fts MATCH ? ORDER BY bm25(insights_fts, 4.0, 1.0) LIMIT ?"
)
SQLITE_FLOOR_COUNT = "SELECT count(*) FROM insights_fts WHERE insights_fts MATCH ?"
POSTGRES_FLOOR = (
    "SELECT id, ts_headline('english', body, q, 'StartSel=**, StopSel=**') FROM"
    " (SELECT id, body, q FROM insights, websearch_to_tsquery('english', $1) AS q"
    " WHERE search_vector @@ q AND community_id = $2"
    " ORDER BY ts_rank(search_vector, q) DESC LIMIT $3) AS top"
)


class Floor:
    """The same question as raw FTS: every word; if fewer than a page have them all, any
    of the content words; the top `limit` by bm25 (ts_rank) with snippets, on the same
    database file (server). No count, no joins, no filters: what the engine itself costs.
    """

    def __init__(self, url: str, community_id: int) -> None:
        self.url = url
        self.community_id = community_id
        self.sqlite: sqlite3.Connection | None = None
        self.postgres: Any = None

    async def open(self) -> None:
        if self.url.startswith("postgresql"):
            import asyncpg

            self.postgres = await asyncpg.connect(self.url.replace("+asyncpg", ""))
        else:
            self.sqlite = sqlite3.connect(self.url.removeprefix("sqlite:///"))

    async def close(self) -> None:
        if self.postgres is not None:
            await self.postgres.close()
        if self.sqlite is not None:
            self.sqlite.close()

    async def search(self, question: str, limit: int) -> list[int]:
        terms = parse_terms(question)
        if self.sqlite is not None:
            rows = self.sqlite.execute(SQLITE_FLOOR, (fts5_expression(terms), limit)).fetchall()
            if len(rows) < limit and terms.relaxable:
                relaxed = fts5_expression(terms, relaxed=True)
                rows = self.sqlite.execute(SQLITE_FLOOR, (relaxed, limit)).fetchall()
            return [r[0] for r in rows]
        strict = terms.websearch()
        rows = await self.postgres.fetch(POSTGRES_FLOOR, strict, self.community_id, limit)
        if len(rows) < limit and terms.relaxable:
            relaxed = " or ".join(terms.content_words)
            rows = await self.postgres.fetch(POSTGRES_FLOOR, relaxed, self.community_id, limit)
        return [r[0] for r in rows]


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as folder:
        reuse = Path(args.reuse) if args.reuse else None
        path = reuse or Path(folder) / "hybrid.db"
        url = args.database_url or f"sqlite:///{path}"
        fresh = args.database_url is not None or reuse is None or not reuse.exists()
        database = open_database(url)
        await upgrade(database)
        if fresh:
            community_id, inserting, embedding = await load(
                database, args.count, args.seed, args.embed_all, args.embedder
            )
            if database.dialect == "postgresql":  # this server's autovacuum may be off
                async with database.engine.begin() as connection:
                    await connection.execute(text("ANALYZE"))
        else:
            community_id, inserting, embedding = 1, 0.0, 0.0
        directory = Directory(database)
        community = await directory.community_by_id(community_id)
        assert community is not None
        backend = open_search(database)
        embedder = load_embedder(args.embedder)
        store = EmbeddingStore(database)
        # in process even where pgvector ranks /search's: the exact peer for the recall
        exact_store = EmbeddingStore(database, VectorCache(lists_from=None), in_process=True)
        index = SemanticIndex(embedder, store, InsightStore(database), frozenset(), 0.15)
        exact = SemanticIndex(embedder, exact_store, InsightStore(database), frozenset(), 0.15)
        floor = Floor(url, community_id)
        await floor.open()
        questions = [QUESTIONS[n % len(QUESTIONS)][0] for n in range(args.queries)]
        rss_before = peak_rss_mib()
        first = time.monotonic()
        await index.search(backend, SearchQuery(community.id, parse_terms("warm up")), community)
        load_seconds = time.monotonic() - first
        rss_after = peak_rss_mib()
        await exact.search(backend, SearchQuery(community.id, parse_terms("warm up")), community)
        timings: dict[str, list[float]] = {
            "floor": [],
            "full text": [],
            "hybrid": [],
            "hybrid, exact": [],
            "question embedding": [],
        }
        overlap: list[float] = []
        for n, question in enumerate(questions):
            query = SearchQuery(community.id, parse_terms(question), limit=args.limit)

            async def floor_run(q: str = question) -> object:
                return await floor.search(q, args.limit)

            async def full_text_run(q: SearchQuery = query) -> object:
                return await backend.search(q)

            async def hybrid_run(q: SearchQuery = query) -> object:
                return await index.search(backend, q, community)

            async def exact_run(q: SearchQuery = query) -> object:
                return await exact.search(backend, q, community)

            async def embed_run(q: str = question) -> object:
                return await embedder.embed([q])

            runs = [
                ("floor", floor_run),
                ("full text", full_text_run),
                ("hybrid", hybrid_run),
                ("hybrid, exact", exact_run),
                ("question embedding", embed_run),
            ]
            if n >= args.exact_questions:  # 1M: the exact peer takes seconds per question
                runs = [run for run in runs if run[0] != "hybrid, exact"]
            for name, call in runs[n % len(runs) :] + runs[: n % len(runs)]:  # rotate
                began = time.perf_counter()
                await call()
                timings[name].append(time.perf_counter() - began)
            if n < min(
                100, args.exact_questions
            ):  # the lists' recall: their top 30 neighbours among the exact top 30
                [vector] = await embedder.embed([question])
                model = embedder.name
                approximate = await store.nearest(community.id, vector, 30, model)
                every = await exact_store.nearest(community.id, vector, 30, model)
                overlap.append(len({i for i, _ in approximate} & {i for i, _ in every}) / 30)
        await floor.close()
        await database.dispose()
    dialect = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    for key, value in machine_info(database=dialect, load=_load()).items():
        print(f"{key:10} {value}")
    if fresh:
        print(
            f"{args.count:,} insights: inserted in {inserting:.0f} s, embedded in {embedding:.0f} s"
        )
    print(f"first hybrid search (loads the vectors): {load_seconds * 1000:.0f} ms, ", end="")
    print(f"peak RSS {rss_before:.0f} -> {rss_after:.0f} MiB")
    print(f"{len(questions)} member questions, {args.limit} results each, interleaved:")
    floor_name = "raw ts_rank" if dialect == "PostgreSQL" else "raw FTS5"
    print(f"  floor ({floor_name}, same query, top {args.limit} with snippets)")
    for name, samples in timings.items():
        print(f"  {name:18} {_ms(samples)}")
    print(f"  vector lists' recall of the exact top 30: {sum(overlap) / len(overlap):.3f}")
    for name in ("full text", "hybrid", "hybrid, exact"):
        ratios = [percentile(timings[name], p) / percentile(timings["floor"], p) for p in (50, 95)]
        print(f"  {name} / floor: p50 {ratios[0]:.1f}x, p95 {ratios[1]:.1f}x")
    print(
        "  hybrid / full text at p95: "
        f"{percentile(timings['hybrid'], 95) / percentile(timings['full text'], 95):.1f}x"
    )


def _load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--limit", type=int, default=10, help="results per search")
    parser.add_argument(
        "--exact-questions",
        type=int,
        default=10**9,
        help="time the exact peer (and its recall) on the first N questions only",
    )
    parser.add_argument("--database-url", help="an empty database (default: a temp SQLite)")
    parser.add_argument(
        "--embed-all", action="store_true", help="embed every text with the model (slow)"
    )
    parser.add_argument(
        "--embedder", choices=("wordllama", "minilm"), default="wordllama", help="packaged model"
    )
    parser.add_argument(
        "--reuse", help="SQLite file: built there if missing, else searched as it is (kept)"
    )
    parser.add_argument(
        "--pgserver",
        action="store_true",
        help="start the pgserver wheel's PostgreSQL + pgvector in a temp folder and use it",
    )
    args = parser.parse_args()
    if not args.pgserver:
        asyncio.run(run(args))
        return
    import pgserver

    with tempfile.TemporaryDirectory(prefix="hearth-pgvector-") as folder:
        server = pgserver.get_server(folder, cleanup_mode="stop")
        try:
            server.psql("CREATE DATABASE bench;")
            args.database_url = server.get_uri("bench")
            asyncio.run(run(args))
        finally:
            server.cleanup()


if __name__ == "__main__":
    main()
