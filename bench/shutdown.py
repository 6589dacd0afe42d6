"""How long `hearth run` takes to end after SIGTERM (or SIGINT) when idle, beside a floor.

The floor is a bare Python process that exits on the same signal: what any Python
daemon costs. The last row runs the same command without `bot.cli.main`'s early exit, so
the interpreter tears down its ~1,000 modules as usual: that was most of the time. Hearth's figure is from the signal to the process having exited, with its
stdin still open (as under Docker or systemd with a terminal attached), on a fresh
SQLite store in a temporary folder.

    .venv/bin/python bench/shutdown.py                 # 10 runs each, SIGTERM
    .venv/bin/python bench/shutdown.py --runs 5 --signal INT
"""

from __future__ import annotations

import argparse
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from measure import machine_info, percentile

FLOOR = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))\n"
    "signal.signal(signal.SIGINT, lambda *_: sys.exit(0))\n"
    "print('Hearth console: ready', flush=True)\n"
    "time.sleep(3600)\n"
)


def one_stop(command: list[str], folder: Path, signum: int) -> float:
    """Seconds from the signal to the exit of a process that has printed its banner."""
    env = {**os.environ, "HEARTH_CONFIG": "", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        command,
        cwd=folder,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    seen = b""
    while b"Hearth console" not in seen:
        ready, _, _ = select.select([proc.stdout], [], [], 120)
        chunk = os.read(proc.stdout.fileno(), 4096) if ready else b""
        if not chunk:
            proc.kill()
            raise SystemExit(f"no banner from {command}: {seen!r}")
        seen += chunk
    started = time.perf_counter()
    proc.send_signal(signum)
    code = proc.wait(timeout=120)
    elapsed = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"{command} exited {code} after the signal")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--signal", choices=["TERM", "INT"], default="TERM")
    args = parser.parse_args()
    signum = signal.Signals[f"SIG{args.signal}"]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        hearth = [sys.executable, "-m", "bot", "run"]
        floor = [sys.executable, "-c", FLOOR]
        env_path = str(Path(__file__).resolve().parent.parent)
        os.environ["PYTHONPATH"] = os.pathsep.join(
            p for p in (env_path, os.environ.get("PYTHONPATH", "")) if p
        )
        # what `hearth run` cost before main() skipped the interpreter's module teardown
        teardown = [sys.executable, "-c", "import sys; from bot.cli import app; app(['run'])"]
        figures = {}
        runs = (
            ("floor (bare Python)", floor),
            ("hearth run", hearth),
            ("  with module teardown", teardown),
        )
        for name, command in runs:
            figures[name] = [one_stop(command, folder, signum) for _ in range(args.runs)]
    for key, value in machine_info(runs=str(args.runs), signal=f"SIG{args.signal}").items():
        print(f"{key:>10}: {value}")
    base = percentile(figures["floor (bare Python)"], 50)
    print(f"\n{'':22}{'p50 s':>8}{'max s':>8}{'p50 / floor':>13}")
    for name, samples in figures.items():
        p50 = percentile(samples, 50)
        print(f"{name:22}{p50:8.3f}{max(samples):8.3f}{p50 / base:13.1f}")


if __name__ == "__main__":
    main()
