"""Search relevance: recall@5 and MRR of full-text, semantic and hybrid search.

Why: members ask later in their own words, not the insight's. `relevance_set.py` holds
130 insights from many fields of practice and 130 questions phrased as members ask them
(mostly no word in common with the insight), plus 20 terse keyword queries;
`relevance_heldout.py` adds 32 insights and 112 held-out questions that no setting was
chosen on (`--sets old`, `--sets heldout`; both by default, each on its own database).
Each method runs through Hearth's own code on a throw-away SQLite file:

- full text, every word: what /search did before issue 16 (all words required);
- full text: `open_search(...).search` (every word, else any of the content words);
- semantic: `EmbeddingStore.nearest` alone;
- hybrid: `SemanticIndex.search`, what /search does on a default install.

    .venv/bin/python bench/search_relevance.py                  # the packaged model (default)
    .venv/bin/python bench/search_relevance.py --embedders minilm,wordllama   # side by side
    .venv/bin/python bench/search_relevance.py --verbose        # per-question ranks
    .venv/bin/python bench/search_relevance.py --hashed         # hashed bag-of-words, no model
    .venv/bin/python bench/search_relevance.py --model ./static-model   # a model2vec model

recall@5: the share of a question's wanted insights in the top 5, averaged; MRR: the mean
of 1/rank of the first wanted insight (0 past rank 30).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from relevance_heldout import EXTRA_CORPUS, HELDOUT_QUESTIONS
from relevance_set import CORPUS, KEYWORD_QUERIES, QUESTIONS

from bot.assist.semantic import Embedder, SemanticIndex
from knowledge.db import open_database
from knowledge.directory import Directory
from knowledge.embeddings import EmbeddingStore
from knowledge.insights import InsightStore
from knowledge.migrate import upgrade
from knowledge.search import SearchQuery, open_search, parse_terms
from knowledge.search.sqlite_fts import SqliteSearch
from knowledge.views import SourceMessage
from tests.fakes.openai_loopback import hashed_embedding

K = 5
DEPTH = 30
METHODS = ("full text, every word", "full text", "semantic", "hybrid")


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


def reciprocal_rank(found: Sequence[int], expected: set[int]) -> float:
    return next((1.0 / n for n, i in enumerate(found, start=1) if i in expected), 0.0)


Sets = Sequence[tuple[str, Sequence[tuple[str, Sequence[str]]]]]
SETS: dict[str, tuple[Sequence[tuple[str, str]], Sets]] = {
    # the first set: 130 insights, what every earlier figure was measured on
    "old": (
        CORPUS,
        (("questions in members' own words", QUESTIONS), ("keyword queries", KEYWORD_QUERIES)),
    ),
    # held out (bench/relevance_heldout.py): 32 more insights, 112 new questions
    "heldout": ([*CORPUS, *EXTRA_CORPUS], (("held-out questions", HELDOUT_QUESTIONS),)),
}


async def run(
    embedder: Embedder,
    min_similarity: float,
    verbose: bool,
    corpus: Sequence[tuple[str, str]] = CORPUS,
    sets: Sets = SETS["old"][1],
    questions_next: Callable[[], None] | None = None,
) -> None:
    """`questions_next` is called between embedding the insights and the questions (a
    model with a passage prefix and a query prefix switches there)."""
    with tempfile.TemporaryDirectory() as folder:
        database = open_database(f"sqlite:///{folder}/relevance.db")
        await upgrade(database)
        directory = Directory(database)
        community = await directory.ensure_community("bench", "Bench", "UTC")
        curator = await directory.resolve_member(community.id, "console", "cora", "Cora")
        insights = InsightStore(database)
        ids: dict[str, int] = {}
        for n, (key, text) in enumerate(corpus, start=1):
            source = SourceMessage("console", "local", "general", str(n), text, "alice", "Alice")
            result = await insights.capture(community.id, source, curator=curator)
            ids[key] = result.insight.id
        names = {v: k for k, v in ids.items()}
        store = EmbeddingStore(database)
        semantic = SemanticIndex(
            embedder, store, insights, frozenset(), min_similarity=min_similarity
        )
        await semantic.backfill(community, limit=len(corpus))
        if questions_next is not None:
            questions_next()
        backend = open_search(database)
        assert isinstance(backend, SqliteSearch)
        print(
            f"{len(corpus)} insights; embedder {embedder.name}; hybrid threshold {min_similarity}"
        )
        for label, queries in sets:
            recalls = dict.fromkeys(METHODS, 0.0)
            ranks = dict.fromkeys(METHODS, 0.0)
            for text, keys in queries:
                expected = {ids[k] for k in keys}
                query = SearchQuery(community.id, parse_terms(text), limit=DEPTH)
                strict = [h.insight_id for h in (await backend.search_exact(query)).hits]
                full_text = [h.insight_id for h in (await backend.search(query)).hits]
                [vector] = await embedder.embed([text])
                nearest = [
                    i for i, _ in await store.nearest(community.id, vector, DEPTH, embedder.name)
                ]
                hybrid = [
                    h.insight_id for h in (await semantic.search(backend, query, community)).hits
                ]
                found = dict(zip(METHODS, (strict, full_text, nearest, hybrid), strict=True))
                for method, ranking in found.items():
                    recalls[method] += recall(ranking, expected)
                    ranks[method] += reciprocal_rank(ranking, expected)
                if verbose:
                    shown = "  ".join(
                        f"{m.split(',')[0][:9]} {reciprocal_rank(r, expected):.2f}"
                        for m, r in found.items()
                    )
                    print(f"{text[:60]!r:64} {shown}")
                    if recall(hybrid, expected) < 1:
                        print(f"{'':64} hybrid top {K}: {[names[i] for i in hybrid[:K]]}")
            print(f"\n{label}: {len(queries)}")
            print(f"{'method':24} recall@{K}   MRR")
            for method in METHODS:
                print(
                    f"{method:24} {recalls[method] / len(queries):8.3f} "
                    f"{ranks[method] / len(queries):6.3f}"
                )
        await database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a model2vec static model: folder or hub name")
    parser.add_argument(
        "--embedders",
        default="minilm",
        help="comma-separated packaged models to measure one after the other in this run: "
        "minilm (the default install's), wordllama (packaged:wordllama)",
    )
    parser.add_argument("--hashed", action="store_true", help="hashed bag-of-words vectors")
    parser.add_argument("--dimensions", type=int, default=256, help="hashed vector size")
    parser.add_argument(
        "--min-similarity",
        type=float,
        help="hybrid threshold (cosine); default Hearth's (assist.semantic_min_similarity)",
    )
    parser.add_argument("--verbose", action="store_true", help="per-question reciprocal ranks")
    parser.add_argument(
        "--sets",
        default="old,heldout",
        help="comma-separated: old (relevance_set.py), heldout (relevance_heldout.py)",
    )
    args = parser.parse_args()
    from bot.config_features import AssistConfig

    default = AssistConfig().semantic_min_similarity
    embedder: Embedder
    if args.model:
        from adapters.local_embeddings import load_static_model

        embedder = load_static_model(args.model)
    elif args.hashed:
        embedder = HashedEmbedder(args.dimensions)
        default = 0.1  # long texts sharing one word score about 0.15
    else:
        for name in args.embedders.split(","):
            threshold = default if args.min_similarity is None else args.min_similarity
            measure(packaged(name.strip()), threshold, args)
        return
    threshold = default if args.min_similarity is None else args.min_similarity
    measure(embedder, threshold, args)


def measure(embedder: Embedder, threshold: float, args: argparse.Namespace) -> None:
    """Each chosen set on its own throw-away database, one after the other."""
    for name in args.sets.split(","):
        if name.strip() not in SETS:
            raise SystemExit(f"unknown set {name!r}: old or heldout")
        corpus, sets = SETS[name.strip()]
        asyncio.run(run(embedder, threshold, args.verbose, corpus, sets))
        print()


def packaged(name: str) -> Embedder:
    """A model that ships inside a registry package, loaded now."""
    if name == "wordllama":
        from adapters.local_embeddings import load_packaged_model

        return load_packaged_model()
    if name == "minilm":
        from adapters.minilm import load_minilm

        return load_minilm()
    raise SystemExit(f"unknown packaged model {name!r}: minilm or wordllama")


if __name__ == "__main__":
    main()
