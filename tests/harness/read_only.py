"""A folder that refuses writes, for real: chmod for an ordinary user, a read-only bind
mount for root (whom permissions do not stop). Skips where neither is possible."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def read_only(directory: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        directory.chmod(0o555)
        try:
            yield directory
        finally:
            directory.chmod(0o755)
        return
    bound = subprocess.run(["mount", "--bind", str(directory), str(directory)], check=False)
    if bound.returncode != 0:
        pytest.skip("cannot make a read-only folder here (root without mount)")
    try:
        remounted = subprocess.run(["mount", "-o", "remount,ro,bind", str(directory)], check=False)
        if remounted.returncode != 0 or os.access(directory, os.W_OK):
            pytest.skip("cannot make a read-only folder here (remount refused)")
        yield directory
    finally:
        subprocess.run(["umount", str(directory)], check=False)
