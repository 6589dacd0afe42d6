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

Texts: each insight is one of the 130 insights of relevance_set.py with a few words of
another appended (so no two are alike); the queries are its 130 member questions. The
first hybrid search loads the vectors into memory (reported apart, with the RSS it
adds); percentiles are over the searches after it.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import machine_info, peak_rss_mib, percentile
from relevance_set import CORPUS, QUESTIONS
from sqlalchemy import insert

from adapters.local_embeddings import load_packaged_model
from bot.assist.semantic import SemanticIndex
from knowledge.db import Database, open_database
from knowledge.directory import Directory
from knowledge.embeddings import STORED_DTYPE, EmbeddingStore
from knowledge.insights import InsightStore
from knowledge.migrate import upgrade
from knowledge.models import Insight, InsightEmbedding, Source
from knowledge.search import SearchQuery, open_search, parse_terms

BATCH = 5000
MOMENT = datetime(2026, 1, 1, tzinfo=UTC)


def texts(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    words = [w for _, t in CORPUS for w in t.split()]
    return [f"{CORPUS[n % len(CORPUS)][1]} {' '.join(rng.sample(words, 4))}" for n in range(count)]


async def load(database: Database, count: int, seed: int) -> tuple[int, float, float]:
    """(community id, seconds inserting, seconds embedding)"""
    directory = Directory(database)
    community = await directory.ensure_community("bench", "Bench", "UTC")
    member = await directory.resolve_member(community.id, "console", "cora", "Cora")
    embedder = load_packaged_model()
    started = time.monotonic()
    embedding = 0.0
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
            vectors = embedder.encode(chunk)
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


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite:///{folder}/hybrid.db"
        database = open_database(url)
        await upgrade(database)
        community_id, inserting, embedding = await load(database, args.count, args.seed)
        directory = Directory(database)
        community = await directory.community_by_id(community_id)
        assert community is not None
        backend = open_search(database)
        embedder = load_packaged_model()
        index = SemanticIndex(
            embedder, EmbeddingStore(database), InsightStore(database), frozenset(), 0.15
        )
        questions = [QUESTIONS[n % len(QUESTIONS)][0] for n in range(args.queries)]
        rss_before = peak_rss_mib()
        first = time.monotonic()
        await index.search(backend, SearchQuery(community.id, parse_terms("warm up")), community)
        load_seconds = time.monotonic() - first
        rss_after = peak_rss_mib()
        full_text: list[float] = []
        hybrid: list[float] = []
        for question in questions:
            query = SearchQuery(community.id, parse_terms(question), limit=5)
            began = time.monotonic()
            await backend.search(query)
            full_text.append(time.monotonic() - began)
            began = time.monotonic()
            await index.search(backend, query, community)
            hybrid.append(time.monotonic() - began)
        await database.dispose()
    dialect = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    for key, value in machine_info(database=dialect).items():
        print(f"{key:10} {value}")
    print(f"{args.count:,} insights: inserted in {inserting:.0f} s, embedded in {embedding:.0f} s")
    print(f"first hybrid search (loads the vectors): {load_seconds * 1000:.0f} ms, ", end="")
    print(f"peak RSS {rss_before:.0f} -> {rss_after:.0f} MiB")
    print(f"{len(questions)} member questions, 5 results each:")
    print(f"  full text  {_ms(full_text)}")
    print(f"  hybrid     {_ms(hybrid)}")
    print(f"  hybrid / full text at p95: {percentile(hybrid, 95) / percentile(full_text, 95):.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database-url", help="an empty database (default: a temp SQLite)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
