"""What every benchmark reports the same way: percentiles, peak memory, the machine."""

from __future__ import annotations

import math
import os
import platform
import resource
import shutil
import sqlite3
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


def percentile(samples: Sequence[float], p: float) -> float:
    """Linear-interpolated percentile; NaN for no samples."""
    ordered = sorted(samples)
    if not ordered:
        return math.nan
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def peak_rss_mib() -> float:
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / 1024 if sys.platform != "darwin" else kib / 1024 / 1024


def machine_info(**extra: str) -> dict[str, str]:
    """CPU model, cores and versions, so a figure is never quoted without its machine."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "CPU": cpu,
        "cores": str(os.cpu_count()),
        "Python": platform.python_version(),
        "SQLite": sqlite3.sqlite_version,
        "platform": platform.platform(),
        **extra,
    }


@dataclass(frozen=True)
class Workspace:
    folder: Path  # fresh for this run
    url: str  # the database to measure: the given URL, else SQLite in `folder`
    backend: str  # "sqlite", "postgresql", …: named beside every figure


@contextmanager
def workspace(
    prefix: str, database_url: str | None, keep: bool, say: Callable[[str], object]
) -> Iterator[Workspace]:
    """A run's folder and database, said first; removed afterwards unless `keep`."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    url = database_url or f"sqlite:///{folder / 'hearth.db'}"
    backend = url.split(":", 1)[0].split("+", 1)[0]
    say(f"Working in {folder}; database: {backend}")
    try:
        yield Workspace(folder, url, backend)
    finally:
        if keep:
            say(f"Kept {folder}")
        else:
            shutil.rmtree(folder)
