"""The virtualenv the bovine peer runs in, made once with pip from the registry.

Bovine pins an older `cryptography` than Hearth's, so it gets an interpreter of its own
(cached in ~/.cache/hearth-tests, or `$HEARTH_BOVINE_PYTHON`), never Hearth's environment.
Standard library only: `.ci/run` runs this file as a script with the system Python while
it installs Hearth's venv, so the federation test finds the peer ready instead of
spending minutes of the suite in pip. A lock makes concurrent callers (that script and
a test, or two xdist workers) build it once.

Prints the interpreter's path.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import venv
from pathlib import Path

BOVINE = "bovine==0.5.19"


def bovine_python() -> Path:
    """An interpreter with bovine installed (made on first use)."""
    given = os.environ.get("HEARTH_BOVINE_PYTHON")
    if given:
        return Path(given)
    home = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "hearth-tests"
    where = home / BOVINE.replace("==", "-")
    python = where / "bin" / "python"
    home.mkdir(parents=True, exist_ok=True)
    with open(home / f"{where.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (where / "ready").exists():
            venv.EnvBuilder(with_pip=True, clear=True).create(where)
            pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
            result = subprocess.run(
                [*pip, BOVINE],
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            if result.returncode != 0:
                raise RuntimeError(f"cannot install {BOVINE}: {result.stderr[-2000:]}")
            (where / "ready").write_text(BOVINE)
    return python


if __name__ == "__main__":
    print(bovine_python())
