"""The public garden's page latency and weight at 100k insights, beside a floor.

Serves the garden (bot/garden) from a real OpsServer on 127.0.0.1 and fetches pages over
HTTP with one keep-alive aiohttp client, one request at a time, measuring from sending the
request to having read the whole body. The floor is a static 2 KB HTML response from the
same server in the same run (aiohttp + the dispatcher + the client, no database): the
ratio to it is what the garden's queries and templates cost.

    .venv/bin/python bench/garden.py --count 5000          # smoke test, under a minute
    .venv/bin/python bench/garden.py                       # 100,000 insights
    .venv/bin/python bench/garden.py --database-url postgresql://u@host/db   # empty db
    .venv/bin/python bench/garden.py --count 20000 --profile 40   # where an insight page goes

The corpus is capture_search.py's (seeded, Zipf-like words, 1-3 tags from 200), written
with bulk INSERTs (the FTS triggers still index every row) rather than one capture per
insight, so building 100k takes a minute, not half an hour. 80% of the insights are
public; the rest must never show (the pages only count and list public ones). Queries
are capture_search.py's: 1-3 content words, 30% with a #tag.

Goals (issue 15): p95 < 50 ms for an insight page, < 150 ms for a search page on SQLite;
the community page under 60 KB of HTML + CSS.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gzip
import pstats
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
from aiohttp import web
from rich.console import Console
from rich.table import Table
from sqlalchemy import insert, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from capture_search import build_vocabulary, corpus, queries
from measure import machine_info, peak_rss_mib, percentile

from bot.garden import Garden
from bot.ops.metrics import Metrics
from bot.ops.server import OpsServer
from knowledge.clock import ManualClock
from knowledge.db import Database, open_database
from knowledge.directory import Directory
from knowledge.garden import GardenStore
from knowledge.migrate import upgrade
from knowledge.models import Insight, InsightTag, Member, Source, Tag
from knowledge.search import open_search

console = Console()
END = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SPAN = timedelta(days=730)
CHUNK = 5_000
FLOOR_BODY = ("<!doctype html><title>floor</title><p>" + "static " * 280 + "</p>").encode()


async def build(database: Database, count: int, seed: int, public_share: float) -> int:
    """Two communities (the big one holds `count` insights), members, tags; returns the
    big community's id."""
    directory = Directory(database)
    big = await directory.ensure_community("guild", "The Guild", "UTC")
    await directory.ensure_community("grove", "The Grove", "UTC")
    vocab = build_vocabulary(seed)
    rng = random.Random(seed)
    members = 200
    async with database.sessions.begin() as session:
        await session.execute(
            insert(Member),
            [{"community_id": big.id, "display_name": f"member{i}"} for i in range(members)],
        )
        member_ids = list(
            await session.scalars(select(Member.id).where(Member.community_id == big.id))
        )
        await session.execute(
            insert(Tag), [{"community_id": big.id, "name": name} for name in vocab.tags]
        )
        rows = await session.execute(select(Tag.name, Tag.id).where(Tag.community_id == big.id))
        tag_ids = {name: tag_id for name, tag_id in rows.all()}
    items = corpus(seed, count, vocab, members)
    done = 0
    with console.status("") as status:
        while done < count:
            batch = [next(items) for _ in range(min(CHUNK, count - done))]
            async with database.sessions.begin() as session:
                when = [END - SPAN * (1 - (item.index + 1) / count) for item in batch]
                source_ids = list(
                    await session.scalars(
                        insert(Source).returning(Source.id),
                        [
                            {
                                "community_id": big.id,
                                "platform": "console",
                                "space": "local",
                                "channel": "general",
                                "message_id": f"m{item.index}",
                                "author_member_id": member_ids[item.author],
                                "text": item.body,
                                "posted_at": moment,
                            }
                            for item, moment in zip(batch, when, strict=True)
                        ],
                    )
                )
                insight_ids = list(
                    await session.scalars(
                        insert(Insight).returning(Insight.id),
                        [
                            {
                                "community_id": big.id,
                                "source_id": source_id,
                                "title": item.title,
                                "body": item.body,
                                "author_member_id": member_ids[item.author],
                                "curator_member_id": member_ids[item.curator],
                                "created_at": moment,
                                "updated_at": moment,
                                "visibility": "public"
                                if rng.random() < public_share
                                else "community",
                            }
                            for item, moment, source_id in zip(batch, when, source_ids, strict=True)
                        ],
                    )
                )
                await session.execute(
                    insert(InsightTag),
                    [
                        {"insight_id": insight_id, "tag_id": tag_ids[vocab.tags[tag]]}
                        for item, insight_id in zip(batch, insight_ids, strict=True)
                        for tag in item.tags
                    ],
                )
            done += len(batch)
            status.update(f"building: {done:,} / {count:,} insights")
    return big.id


async def timed(session: aiohttp.ClientSession, url: str) -> tuple[float, int, int]:
    start = time.perf_counter()
    async with session.get(url) as response:
        body = await response.read()
    return time.perf_counter() - start, response.status, len(body)


async def measure(
    session: aiohttp.ClientSession, base: str, paths: Sequence[str]
) -> tuple[list[float], int]:
    samples: list[float] = []
    for path in paths[:3]:  # warm up: first template compile, page cache
        await timed(session, base + path)
    failures = 0
    for path in paths:
        seconds, status, _ = await timed(session, base + path)
        samples.append(seconds)
        failures += status != 200
    return samples, failures


def ms(value: float) -> str:
    return f"{value * 1000:.1f}"


async def run(args: argparse.Namespace) -> None:
    folder = Path(tempfile.mkdtemp(prefix="hearth-garden-bench-"))
    url = args.database_url or f"sqlite:///{folder / 'garden.db'}"
    clock = ManualClock(END)
    database = open_database(url, clock=clock)
    await upgrade(database)
    started = time.perf_counter()
    community_id = await build(database, args.count, args.seed, args.public_share)
    built = time.perf_counter() - started
    console.print(f"built {args.count:,} insights in {built:.0f} s ({database.dialect})")

    search = open_search(database)
    store = GardenStore(database, search)
    ops = OpsServer("127.0.0.1", 0, Metrics())

    async def floor(_: web.Request) -> web.StreamResponse:
        return web.Response(body=FLOOR_BODY, content_type="text/html")

    ops.route("GET", "/floor", floor)
    Garden(store, clock).mount(ops)
    await ops.start()
    base = f"http://127.0.0.1:{ops.port}"
    rng = random.Random(args.seed)
    async with database.sessions() as db:
        public = list(
            await db.scalars(
                select(Insight.id).where(
                    Insight.community_id == community_id, Insight.visibility == "public"
                )
            )
        )
    vocab = build_vocabulary(args.seed)
    n = args.requests
    insight_paths = [f"/c/guild/i/{rng.choice(public)}" for _ in range(n)]
    search_paths = []
    for q in queries(args.seed, n, vocab):
        text = " ".join(q.words) + (f" #{vocab.tags[q.tag]}" if q.tag is not None else "")
        search_paths.append("/search?" + urlencode({"q": text, "c": "guild"}))
    pages = {
        "floor (static response)": ["/floor"] * n,
        "insight page": insight_paths,
        "search page": search_paths,
        "community page": ["/c/guild/"] * max(20, n // 5),
        "tag page": [f"/c/guild/t/{vocab.tags[rng.randrange(20)]}" for _ in range(n // 5)],
    }
    results: dict[str, tuple[list[float], int]] = {}
    async with aiohttp.ClientSession() as session:
        for name, paths in pages.items():
            profile = cProfile.Profile() if args.profile and name == "insight page" else None
            if profile is not None:
                profile.enable()
            results[name] = await measure(session, base, paths)
            if profile is not None:  # server and client share this process and loop
                profile.disable()
                pstats.Stats(profile).sort_stats("cumulative").print_stats(args.profile)
        async with session.get(base + "/c/guild/") as response:
            html = await response.read()
        async with session.get(base + "/garden.css") as response:
            css = await response.read()
    await ops.stop()
    await database.dispose()

    floor_p50 = percentile(results["floor (static response)"][0], 50)
    table = Table(title=f"Garden pages at {args.count:,} insights ({database.dialect})")
    for column in ("page", "requests", "p50 ms", "p95 ms", "p50 / floor", "goal", "non-200"):
        table.add_column(column, justify="right" if column != "page" else "left")
    goals = {"insight page": "p95 < 50 ms", "search page": "p95 < 150 ms"}
    for name, (samples, failures) in results.items():
        table.add_row(
            name,
            str(len(samples)),
            ms(percentile(samples, 50)),
            ms(percentile(samples, 95)),
            f"{percentile(samples, 50) / floor_p50:.1f}×",
            goals.get(name, ""),
            str(failures),
        )
    console.print(table)
    weight = len(html) + len(css)
    console.print(
        f"community page weight: {len(html) / 1024:.1f} KB HTML + {len(css) / 1024:.1f} KB CSS "
        f"= {weight / 1024:.1f} KB (goal < 60 KB); gzip {len(gzip.compress(html)) / 1024:.1f}"
        f" + {len(gzip.compress(css)) / 1024:.1f} KB"
    )
    console.print(f"public insights: {len(public):,} of {args.count:,}")
    console.print(f"peak RSS {peak_rss_mib():.0f} MiB")
    for key, value in machine_info(database=database.dialect).items():
        console.print(f"{key}: {value}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000, help="insights to build")
    parser.add_argument("--requests", type=int, default=300, help="requests per page kind")
    parser.add_argument("--public-share", type=float, default=0.8)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database-url", default="", help="an empty database (default SQLite)")
    parser.add_argument(
        "--profile", type=int, default=0, help="cProfile the insight pages; print N functions"
    )
    asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
