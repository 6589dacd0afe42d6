"""The image's steps without Docker: build the wheel, install it into a fresh virtualenv
outside the source tree, and run `hearth` from an empty working directory.

The new venv gets Hearth only from the wheel; its dependencies come from the test
environment's site-packages through a plain path entry (no .pth files of that
environment run, so the editable install of this source tree stays out of reach).
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def _run(args: list[str], cwd: Path, stdin: str = "", env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        args,
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    assert done.returncode == 0, f"{args} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_built_wheel_runs_from_an_empty_folder(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            "--wheel-dir",
            str(wheels),
            str(SOURCE),
        ],
        cwd=tmp_path,
    )
    (wheel,) = wheels.glob("hearth-*.whl")

    target = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(target)
    python = target / "bin" / "python"
    site = Path(
        _run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            cwd=tmp_path,
        ).strip()
    )
    # Dependencies from the test environment, as a plain path (its .pth files never run).
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--quiet",
            str(wheel),
        ],
        cwd=tmp_path,
    )

    empty = tmp_path / "empty"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "HEARTH_CONFIG")}
    where = _run(
        [str(python), "-c", "import bot, knowledge; print(bot.__file__, knowledge.__file__)"],
        cwd=empty,
        env=env,
    )
    assert str(SOURCE) not in where and str(site) in where
    # the garden's templates and stylesheet ship inside the wheel (package data)
    garden = _run(
        [
            str(python),
            "-c",
            "from bot.garden.pages import environment; from importlib.resources import files; "
            "names = environment().list_templates(); "
            "print(len(names), 'not_found.html.j2' in names, "
            "len(files('bot.garden').joinpath('static/garden.css').read_bytes()) > 1000)",
        ],
        cwd=empty,
        env=env,
    )
    assert garden.split()[1:] == ["True", "True"] and int(garden.split()[0]) >= 9, garden

    hearth = str(target / "bin" / "hearth")
    assert "Config OK" in _run([hearth, "check-config"], cwd=empty, env=env)
    printed = _run(
        [hearth, "run"],
        cwd=empty,
        env=env,
        stdin="/insight Ship the wheel, not the tree #release\n/search wheel\n",
    )
    assert "Captured insight #1" in printed
    assert "Ship the wheel" in printed.split("Captured insight #1", 1)[1]
    assert (empty / "hearth.db").exists()  # the embedded default: SQLite in the working folder
    assert "nothing to check" in _run([hearth, "healthcheck"], cwd=empty, env=env)
