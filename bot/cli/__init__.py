"""The `hearth` command line: run the bot, manage config and database, search, export, import.

Each module registers its commands on the one Typer app (bot/cli/common.py)."""

from __future__ import annotations

import atexit
import contextlib
import os
import sys

from bot.cli import data, federation, running, setup
from bot.cli.common import app

__all__ = ["app", "data", "federation", "main", "running", "setup"]


def main() -> None:
    """The `hearth` program: once a command has finished and closed what it opened, exit
    without the interpreter's module teardown, which took most of the time between
    SIGTERM and the process ending (1.3 s of 1.4 s on a loaded machine; bench/shutdown.py)."""
    try:
        app()
        code: object = 0
    except SystemExit as exit_:
        code = exit_.code
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    atexit._run_exitfuncs()  # logging's flush and any library's own clean-up still run
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a reader that went away
            stream.flush()
    os._exit(code or 0)


if __name__ == "__main__":
    main()
