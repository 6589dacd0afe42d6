"""Search relevance: recall@5 of full-text, embedding and blended search on a small corpus.

Why: semantic search is only worth its vectors if it finds what full-text search misses
without burying what it finds. The corpus is hand-written from community-of-practice
topics (reviews, onboarding, retros, incidents, testing, docs, mentoring, meetings); each
query lists the insights a person asking it would want. Some queries use the insights'
own words, some only part of them, some other words altogether (synonyms), so each
method's strengths show up.

    .venv/bin/python bench/search_relevance.py                   # hashed bag-of-words vectors
    .venv/bin/python bench/search_relevance.py --model minishlab/potion-base-8M   # model2vec
    .venv/bin/python bench/search_relevance.py --model ./my-static-model --verbose

The default embedder is the loopback server's deterministic hashed bag-of-words (no model,
no network): it knows no synonyms, so it measures what partial word overlap adds. A real
static model (`--model`, a folder or hub name; `pip install 'hearth[embeddings]'`) also
knows meanings. Everything runs through Hearth's own store, `SemanticIndex` and
`open_search` on a throw-away SQLite file.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.assist.semantic import Embedder, SemanticIndex
from knowledge.db import open_database
from knowledge.directory import Directory
from knowledge.embeddings import EmbeddingStore
from knowledge.insights import InsightStore
from knowledge.migrate import upgrade
from knowledge.search import SearchQuery, open_search, parse_terms
from knowledge.views import SourceMessage
from tests.openai_loopback import hashed_embedding

K = 5

CORPUS = [  # (key, text); keys name the insights the queries expect
    ("small-prs", "Small pull requests get reviewed within a day; big ones wait a week"),
    ("review-checklist", "A short review checklist catches missing tests and unclear names"),
    ("review-tone", "Phrase review comments as questions, not orders, to keep feedback kind"),
    (
        "review-rotation",
        "Rotate the reviewer on duty so no one becomes the bottleneck for approvals",
    ),
    ("buddy", "Every newcomer gets a buddy for their first month to ask the silly questions"),
    (
        "onboarding-doc",
        "Keep one onboarding page with accounts, tools and who to ask, updated by each new hire",
    ),
    (
        "first-commit",
        "New joiners ship a tiny change on day one so the deploy pipeline feels less scary",
    ),
    ("retro-actions", "Retrospectives end with at most two actions, each with an owner and a date"),
    ("retro-safety", "Start a retro with a quick safety check so quieter people speak up"),
    (
        "retro-format",
        "Change the retrospective format every few sprints to avoid going through the motions",
    ),
    (
        "postmortem-blameless",
        "Incident postmortems are blameless: ask what made the mistake easy, not who made it",
    ),
    (
        "incident-commander",
        "During an outage one incident commander coordinates and everyone else fixes",
    ),
    ("runbooks", "Write a runbook for every alert that pages someone at night"),
    (
        "status-page",
        "Update the public status page within fifteen minutes of a customer-facing outage",
    ),
    ("flaky-tests", "Quarantine flaky tests the day they flake and fix them within a week"),
    (
        "test-pyramid",
        "Most tests should be fast unit tests; keep slow end-to-end tests for critical paths",
    ),
    ("tdd-legacy", "Before changing legacy code, pin its behaviour with characterization tests"),
    ("adr", "Record architecture decisions in short ADRs next to the code they shape"),
    ("docs-as-code", "Documentation lives in the repository and is reviewed like code"),
    ("readme-first", "Write the README before the code to find out what you are building"),
    ("mentoring-goals", "Mentoring works best with a goal agreed in the first session"),
    (
        "mentoring-rotation",
        "Juniors who meet several mentors over a year grow faster than with one",
    ),
    (
        "pairing-remote",
        "Remote pairing works with short rotations and a shared editor, not screen sharing alone",
    ),
    ("mob-programming", "Mob programming on hard bugs spreads knowledge faster than any wiki page"),
    ("no-meeting-day", "A meeting-free Wednesday gave everyone a full day of focus time"),
    (
        "standup-async",
        "Asynchronous written standups replaced the daily call for a distributed team",
    ),
    ("agenda", "No agenda, no meeting: invites without an agenda may be declined"),
    ("demo-day", "A monthly demo day lets teams show unfinished work and get early feedback"),
    ("tech-debt-budget", "Reserve a fifth of each sprint for paying down technical debt"),
    ("feature-flags", "Ship behind feature flags so releases and launches are separate decisions"),
    ("accessibility", "Test every new screen with a screen reader before calling it done"),
    (
        "oncall-handover",
        "On-call handovers include open incidents, noisy alerts and pending changes",
    ),
]

QUERIES = [  # (query as typed, keys of the insights it should find)
    ("code review", ["review-checklist", "review-tone", "review-rotation"]),
    ("reviewed faster pull requests", ["small-prs"]),
    ("newcomer onboarding", ["buddy", "onboarding-doc", "first-commit"]),
    ("retro actions owner", ["retro-actions"]),
    ("retrospective", ["retro-actions", "retro-safety", "retro-format"]),
    ("blameless postmortem", ["postmortem-blameless"]),
    ("outage coordination", ["incident-commander", "status-page"]),
    ("flaky tests quarantine fix", ["flaky-tests"]),
    ("testing legacy code safely", ["tdd-legacy"]),
    ("documentation", ["docs-as-code", "adr", "readme-first", "onboarding-doc"]),
    ("mentors for juniors", ["mentoring-goals", "mentoring-rotation"]),
    ("pair programming remote", ["pairing-remote", "mob-programming"]),
    ("fewer meetings focus", ["no-meeting-day", "standup-async", "agenda"]),
    ("daily standup", ["standup-async"]),
    ("release safely", ["feature-flags", "first-commit"]),
    ("alerts at night", ["runbooks", "oncall-handover"]),
    ("kind feedback", ["review-tone", "demo-day"]),
    ("technical debt time", ["tech-debt-budget"]),
    ("screen reader accessibility", ["accessibility"]),
    ("welcome new hires", ["buddy", "onboarding-doc", "first-commit"]),
]


class HashedEmbedder:
    """The loopback server's hashed bag-of-words, as a local embedder (no network)."""

    local = True

    def __init__(self, dimensions: int) -> None:
        self.dimensions = dimensions
        self.name = f"hashed-{dimensions}"

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [hashed_embedding(t, self.dimensions) for t in texts]


def recall(found: Sequence[int], expected: set[int]) -> float:
    return len(set(found[:K]) & expected) / len(expected)


async def run(embedder: Embedder, min_similarity: float, verbose: bool) -> None:
    with tempfile.TemporaryDirectory() as folder:
        database = open_database(f"sqlite:///{folder}/relevance.db")
        await upgrade(database)
        directory = Directory(database)
        community = await directory.ensure_community("bench", "Bench", "UTC")
        curator = await directory.resolve_member(community.id, "console", "cora", "Cora")
        insights = InsightStore(database)
        ids: dict[str, int] = {}
        for n, (key, text) in enumerate(CORPUS, start=1):
            source = SourceMessage("console", "local", "general", str(n), text, "alice", "Alice")
            result = await insights.capture(community.id, source, curator=curator)
            ids[key] = result.insight.id
        names = {v: k for k, v in ids.items()}
        store = EmbeddingStore(database)
        semantic = SemanticIndex(
            embedder, store, insights, frozenset(), min_similarity=min_similarity
        )
        await semantic.backfill(community, limit=len(CORPUS))
        backend = open_search(database)
        totals = {"full-text": 0.0, "embeddings": 0.0, "blended": 0.0}
        for text, keys in QUERIES:
            expected = {ids[k] for k in keys}
            query = SearchQuery(community.id, parse_terms(text), limit=K)
            full_text = [h.insight_id for h in (await backend.search(query)).hits]
            [vector] = await embedder.embed([text])
            nearest = [i for i, _ in await store.nearest(community.id, vector, K, embedder.name)]
            blended = [
                h.insight_id for h in (await semantic.search(backend, query, community)).hits
            ]
            scores = {
                "full-text": recall(full_text, expected),
                "embeddings": recall(nearest, expected),
                "blended": recall(blended, expected),
            }
            for method, score in scores.items():
                totals[method] += score
            if verbose:
                shown = "  ".join(f"{m} {s:.2f}" for m, s in scores.items())
                print(f"{text!r:34} {shown}")
                print(f"{'':34} blended top {K}: {[names[i] for i in blended]}")
        await database.dispose()
    print(
        f"{len(CORPUS)} insights, {len(QUERIES)} queries, embedder {embedder.name}, "
        f"blend threshold {min_similarity}"
    )
    for method, total in totals.items():
        print(f"recall@{K} {method:11} {total / len(QUERIES):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a model2vec static model: folder or hub name")
    parser.add_argument("--dimensions", type=int, default=256, help="hashed vector size")
    parser.add_argument(
        "--min-similarity",
        type=float,
        help="blend threshold (cosine); default 0.1 for hashed vectors (long texts sharing "
        "one word score about 0.15), else Hearth's default 0.3",
    )
    parser.add_argument("--verbose", action="store_true", help="per-query scores and hits")
    args = parser.parse_args()
    embedder: Embedder
    if args.model:
        from adapters.local_embeddings import load_static_model

        embedder = load_static_model(args.model)
        default = 0.3
    else:
        embedder = HashedEmbedder(args.dimensions)
        default = 0.1
    threshold = default if args.min_similarity is None else args.min_similarity
    asyncio.run(run(embedder, threshold, args.verbose))


if __name__ == "__main__":
    main()
