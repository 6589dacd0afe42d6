"""How long importing hostile long text takes (~125 kB, twice the largest platform
message, full of markup, mentions and brackets), per dialect, beside a floor.

The floor is one linear pass over the same text (`html.escape` plus a regex tokenising
every word), so a ratio that grows with --scale means something went super-linear. This
was a 30 s limit inside tests/test_text.py, where a loaded machine made it flaky.

    .venv/bin/python bench/text_import.py             # 125 kB, 5 runs
    .venv/bin/python bench/text_import.py --scale 4   # 500 kB
"""

from __future__ import annotations

import argparse
import html
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

from measure import machine_info, percentile

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.text import from_discord, from_matrix_html, from_slack, parse

CHUNKS = ["word **bold** <@1> @everyone <", "&amp; ~s~ _i_ ", "<<<<", "*" * 50]


def floor(text: str) -> object:
    return html.escape(text), re.findall(r"\S+", text)


def timed(work: Callable[[str], object], text: str, runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        work(text)
        samples.append(time.perf_counter() - started)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--scale", type=int, default=1, help="multiples of 125 kB")
    args = parser.parse_args()
    text = "".join(CHUNKS) * 1500 * args.scale
    importers: dict[str, Callable[[str], object]] = {
        "floor (one linear pass)": floor,
        "Markdown (parse)": parse,
        "Discord": from_discord,
        "Slack": from_slack,
        "Matrix (plain body)": lambda t: from_matrix_html(None, t),
    }
    figures = {name: timed(work, text, args.runs) for name, work in importers.items()}
    extra = {"text": f"{len(text.encode()) // 1000} kB", "runs": str(args.runs)}
    for key, value in machine_info(**extra).items():
        print(f"{key:>10}: {value}")
    base = percentile(figures["floor (one linear pass)"], 50)
    print(f"\n{'':26}{'p50 ms':>9}{'max ms':>9}{'p50 / floor':>13}")
    for name, samples in figures.items():
        p50 = percentile(samples, 50)
        print(f"{name:26}{p50 * 1000:9.1f}{max(samples) * 1000:9.1f}{p50 / base:13.1f}")


if __name__ == "__main__":
    main()
