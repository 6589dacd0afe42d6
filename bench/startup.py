"""`hearth run` to ready on the embedded default (SQLite + console), beside its floors.

Ready is the console's banner ("Hearth console: you are ..."): it is printed once every
adapter has connected, rituals have caught up and the adapter takes input. Each sample is
a fresh `python -m bot run --config ...` child process on a temporary SQLite file; the
clock runs from spawning it to reading the banner, then `:quit` ends it. The first
start creates the database (migrations); later starts open it. The floors, timed the
same way in the same run (interleaved): `python -c pass` and a bare import of the
libraries Hearth starts with (SQLAlchemy's asyncio engine, aiosqlite, APScheduler,
structlog, pydantic, typer, rich), so the ratio shows what Hearth's own start-up adds. Beside each wall time, the CPU seconds
the child used until ready (from /proc), which a loaded machine inflates less.

Children run from byte-compiled files as an installed Hearth does (pip compiles them at
install): this environment may set PYTHONDONTWRITEBYTECODE, which would make every start
compile Hearth's own sources again (~0.3 s); the children get a cache folder of their
own (PYTHONPYCACHEPREFIX) and one untimed start fills it. `--no-bytecode` measures the
old way.

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


PYCACHE: Path | None = None  # set by main: where the children keep their bytecode


def env(code: Path = ROOT) -> dict[str, str]:
    variables = {**os.environ, "PYTHONPATH": str(code), "PYTHONUNBUFFERED": "1"}
    if PYCACHE is not None:
        variables.pop("PYTHONDONTWRITEBYTECODE", None)
        variables["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    return variables


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used so far (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed_command(code: str) -> tuple[float, float]:
    started = time.perf_counter()
    before = os.times()
    subprocess.run([sys.executable, "-c", code], check=True, env=env())
    after = os.times()
    cpu = after.children_user + after.children_system
    cpu -= before.children_user + before.children_system
    return time.perf_counter() - started, cpu


def timed_hearth(config: Path, code: Path = ROOT) -> tuple[float, float]:
    """Seconds from spawning `hearth run` to its ready banner, and the CPU seconds it had
    used by then; then it is told to quit."""
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
                cpu = cpu_seconds(child.pid)
                break
        else:
            raise SystemExit(f"hearth run ended without its banner (exit {child.wait()})")
        child.stdin.write(":quit\n")
        child.stdin.flush()
        child.wait(timeout=60)
        return ready, cpu
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def main() -> None:
    global PYCACHE
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--other", type=Path, help="another checkout (e.g. main) timed the same way, interleaved"
    )
    parser.add_argument(
        "--no-bytecode", action="store_true", help="as the environment says (maybe no .pyc)"
    )
    args = parser.parse_args()
    samples: dict[str, list[tuple[float, float]]] = {
        "python -c pass": [],
        "import the libraries": [],
        "hearth run, new database": [],
        "hearth run, existing database": [],
    }
    if args.other:
        samples["other checkout, existing database"] = []
    with tempfile.TemporaryDirectory(prefix="hearth-startup-") as tmp:
        if not args.no_bytecode:
            PYCACHE = Path(tmp) / "pycache"
            warm = Path(tmp) / "warm-up"  # untimed: compiles every module once
            for code in (ROOT, *([args.other.resolve()] if args.other else [])):
                folder = warm / code.name
                folder.mkdir(parents=True)
                config = folder / "hearth.toml"
                config.write_text(CONFIG.format(db=folder / "hearth.db", folder=folder))
                timed_hearth(config, code)
            timed_command(LIBRARIES)
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
    bytecode = "no (as the environment says)" if args.no_bytecode else "yes (as installed)"
    for key, value in machine_info(runs=str(args.runs), bytecode=bytecode).items():
        print(f"{key:>10}: {value}")
    floor = percentile([wall for wall, _ in samples["import the libraries"]], 50)
    print(f"\n{'':32}{'p50 s':>8}{'max s':>8}{'p50 / import floor':>20}{'CPU p50 s':>11}")
    for name, values in samples.items():
        p50 = percentile([wall for wall, _ in values], 50)
        slowest = max(wall for wall, _ in values)
        cpu = percentile([used for _, used in values], 50)
        print(f"{name:32}{p50:8.2f}{slowest:8.2f}{p50 / floor:20.1f}{cpu:11.2f}")
    ready = percentile([wall for wall, _ in samples["hearth run, existing database"]], 50)
    print(f"\nready in {ready:.2f} s (goal < 2 s): {'met' if ready < 2 else 'NOT met'}")


if __name__ == "__main__":
    main()
