"""`hearth run` to ready on the embedded default (SQLite + console), beside its floors.

Ready is the console's banner ("Hearth console: you are ..."): it is printed once every
adapter has connected, rituals have caught up and the adapter takes input. Each sample is
a fresh `python -m bot run --config ...` child process on a temporary SQLite file; the
clock runs from spawning it to reading the banner, then `:quit` ends it. The first
start creates the database (migrations); later starts open it. The floors, timed the
same way in the same run (interleaved): `python -c pass` and a bare import of the
libraries Hearth starts with (SQLAlchemy's asyncio engine, aiosqlite, APScheduler,
structlog, pydantic, typer, rich), so the ratio shows what Hearth's own start-up adds.

    .venv/bin/python bench/startup.py             # 5 rounds
    .venv/bin/python bench/startup.py --runs 10   # goal: ready < 2 s
    .venv/bin/python bench/startup.py --other ../main   # beside another checkout
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from measure import machine_info, percentile

ROOT = Path(__file__).resolve().parent.parent
BANNER = "Hearth console: you are"
LIBRARIES = (
    "import sqlalchemy.ext.asyncio, aiosqlite, apscheduler.schedulers.asyncio, structlog, "
    "pydantic, typer, rich"
)
CONFIG = """
[hearth]
database_url = "sqlite:///{db}"
export_dir = "{folder}/exports"

[[communities]]
slug = "guild"
name = "The Guild"
[[communities.channels]]
platform = "console"
space = "local"
channel = "general"

[adapters.console]
user = "alice"
transcript = "{folder}/transcript.jsonl"
"""


def env(code: Path = ROOT) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(code), "PYTHONUNBUFFERED": "1"}


def timed_command(code: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=env())
    return time.perf_counter() - started


def timed_hearth(config: Path, code: Path = ROOT) -> float:
    """Seconds from spawning `hearth run` to its ready banner; then it is told to quit."""
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "--config", str(config)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env(code),
        cwd=config.parent,
    )
    assert child.stdout is not None and child.stdin is not None
    try:
        for line in child.stdout:
            if BANNER in line:
                ready = time.perf_counter() - started
                break
        else:
            raise SystemExit(f"hearth run ended without its banner (exit {child.wait()})")
        child.stdin.write(":quit\n")
        child.stdin.flush()
        child.wait(timeout=60)
        return ready
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--other", type=Path, help="another checkout (e.g. main) timed the same way, interleaved"
    )
    args = parser.parse_args()
    samples: dict[str, list[float]] = {
        "python -c pass": [],
        "import the libraries": [],
        "hearth run, new database": [],
        "hearth run, existing database": [],
    }
    if args.other:
        samples["other checkout, existing database"] = []
    with tempfile.TemporaryDirectory(prefix="hearth-startup-") as tmp:
        for run in range(args.runs):
            folder = Path(tmp) / f"run{run}"
            folder.mkdir()
            config = folder / "hearth.toml"
            config.write_text(CONFIG.format(db=folder / "hearth.db", folder=folder))
            samples["python -c pass"].append(timed_command("pass"))
            samples["import the libraries"].append(timed_command(LIBRARIES))
            samples["hearth run, new database"].append(timed_hearth(config))
            samples["hearth run, existing database"].append(timed_hearth(config))
            if args.other:  # its own database: the two may differ in schema
                own = folder / "other"
                own.mkdir()
                other_config = own / "hearth.toml"
                other_config.write_text(CONFIG.format(db=own / "hearth.db", folder=own))
                timed_hearth(other_config, args.other.resolve())  # creates it
                other = samples["other checkout, existing database"]
                other.append(timed_hearth(other_config, args.other.resolve()))
    for key, value in machine_info(runs=str(args.runs)).items():
        print(f"{key:>10}: {value}")
    floor = percentile(samples["import the libraries"], 50)
    print(f"\n{'':32}{'p50 s':>8}{'max s':>8}{'p50 / import floor':>20}")
    for name, values in samples.items():
        p50 = percentile(values, 50)
        print(f"{name:32}{p50:8.2f}{max(values):8.2f}{p50 / floor:20.1f}")
    ready = percentile(samples["hearth run, existing database"], 50)
    print(f"\nready in {ready:.2f} s (goal < 2 s): {'met' if ready < 2 else 'NOT met'}")


if __name__ == "__main__":
    main()
