"""`hearth run` as a long-running process: bad lines, signals, a second run, a failure.

Real processes (`python -m bot run`), spoken to through stdin and read from stdout.
"""

from __future__ import annotations

import contextlib
import os
import pty
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness.config_builder import write_config
from tests.harness.processes import READ_TIMEOUT, HearthProcess

pytestmark = pytest.mark.slow

BANNER = r"^Hearth console: you are alice"


def config(tmp_path: Path, database_url: str) -> Path:
    return write_config(
        tmp_path / "hearth.toml", database_url, transcript=tmp_path / "console.jsonl"
    )


def test_bad_lines_get_one_error_line_each_and_the_console_reads_on(
    database_url: str, tmp_path: Path
) -> None:
    with HearthProcess(config(tmp_path, database_url), tmp_path) as hearth:
        hearth.expect(BANNER)
        hearth.send(":react ² 💡")  # "²".isdigit() is True, int("²") fails
        hearth.expect(r"^! Usage: :react <message-id> <emoji>")
        hearth.send_bytes(b"/insight bad \xff\n")
        hearth.expect(r"^! That line is not valid UTF-8 text \(byte 0xff at position 14\)")
        hearth.send("/insight nul \x00 inside", ":react 99999999999999999999999999999 💡")
        hearth.expect(r"The text contains a NUL character")
        hearth.send(":channel ##")
        hearth.expect(r"^! Usage: :react")
        hearth.expect(r"^! Channel names are")
        hearth.send("/insight still alive?")
        hearth.expect(r"💡 Captured insight #1 from alice: “still alive\?”")
        assert hearth.signal(signal.SIGTERM) == 0, hearth.describe("unclean exit")
        assert "Traceback" not in hearth.stderr()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_a_signal_stops_hearth_cleanly_while_its_input_is_still_open(
    database_url: str, tmp_path: Path, signum: int
) -> None:
    with HearthProcess(config(tmp_path, database_url), tmp_path) as hearth:
        hearth.expect(BANNER)
        hearth.send("/insight before the signal")
        hearth.expect(r"Captured insight #1")
        assert hearth.signal(signum) == 0, hearth.describe("unclean exit")
        assert "Traceback" not in hearth.stderr()
        assert "Fatal Python error" not in hearth.stderr()


def test_a_second_run_on_the_same_transcript_is_refused_in_one_sentence(
    database_url: str, tmp_path: Path
) -> None:
    path = config(tmp_path, database_url)
    with HearthProcess(path, tmp_path) as first:
        first.expect(BANNER)
        second = subprocess.run(
            [sys.executable, "-m", "bot", "run", "--config", str(path)],
            input="/insight from the second\n",
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=READ_TIMEOUT,
            env={**os.environ, "HEARTH_CONFIG": ""},
        )
        assert second.returncode == 2, second.stderr
        assert "console.jsonl is in use by another running console" in second.stderr
        assert "[adapters.console] transcript" in second.stderr
        assert "Traceback" not in second.stderr
        first.send("/insight the first goes on")
        first.expect(r"💡 Captured insight #1 from alice: “the first goes on”")
        assert first.quit() == 0, first.describe("unclean exit")


def test_piped_input_is_handled_to_the_end_then_hearth_exits_0(
    database_url: str, tmp_path: Path
) -> None:
    script = "".join(f"/insight note {n}\n" for n in range(1, 6))
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run", "--config", str(config(tmp_path, database_url))],
        input=script,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=READ_TIMEOUT,
        env={**os.environ, "HEARTH_CONFIG": ""},
    )
    assert result.returncode == 0, result.stderr
    assert all(f"“note {n}”" in result.stdout for n in range(1, 6))


def test_an_adapter_that_fails_ends_hearth_non_zero_naming_the_cause(
    database_url: str, tmp_path: Path
) -> None:
    """Whoever read the console went away (`hearth run | head -1`): its writes fail."""
    read_end, write_end = os.pipe()
    with (tmp_path / "stderr.log").open("w+b") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "run", "--config", str(config(tmp_path, database_url))],
            stdin=subprocess.PIPE,
            stdout=write_end,
            stderr=stderr,
            cwd=tmp_path,
            env={**os.environ, "HEARTH_CONFIG": "", "PYTHONUNBUFFERED": "1"},
        )
        os.close(write_end)
        try:
            seen = b""
            while b":quit to leave.\n" not in seen:  # the whole banner: start() is done
                ready, _, _ = select.select([read_end], [], [], READ_TIMEOUT)
                chunk = os.read(read_end, 4096) if ready else b""
                assert chunk, f"no banner: {seen!r}"
                seen += chunk
            os.close(read_end)
            assert proc.stdin is not None
            proc.stdin.write(b"/insight nobody reads this\n")
            proc.stdin.flush()
            code = proc.wait(timeout=READ_TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        stderr.seek(0)
        logged = stderr.read().decode("utf-8", "replace")
    assert code == 1, logged
    assert "the console adapter failed (BrokenPipeError" in logged
    assert "so Hearth stopped" in logged


def test_on_a_terminal_bad_bytes_are_explained_and_sigterm_ends_cleanly(
    database_url: str, tmp_path: Path
) -> None:
    """The interactive path (readline's input() on a pseudo-terminal)."""
    path = config(tmp_path, database_url)
    pid, terminal = pty.fork()
    if pid == 0:  # the child: become `hearth run` on the pseudo-terminal, never pytest
        try:
            os.chdir(tmp_path)
            env = {**os.environ, "HEARTH_CONFIG": ""}
            os.execve(sys.executable, [sys.executable, "-m", "bot", "run", "-c", str(path)], env)
        finally:
            os._exit(127)
    screen = b""

    def shows(token: bytes) -> None:
        nonlocal screen
        while token not in screen:
            ready, _, _ = select.select([terminal], [], [], READ_TIMEOUT)
            assert ready, (
                f"waited for {token!r}; the terminal shows:\n{screen.decode(errors='replace')}"
            )
            screen += os.read(terminal, 4096)

    try:
        shows(b"alice@#general> ")
        os.write(terminal, b"/insight bad \xff\r")
        shows(b"! That line is not valid UTF-8 text (byte 0xff)")
        os.write(terminal, b"/insight typed on a terminal\r")
        shows("Captured insight #1 from alice: “typed on a terminal”".encode())
        os.kill(pid, signal.SIGTERM)
        _, status = os.waitpid(pid, 0)
    finally:
        with contextlib.suppress(ChildProcessError, ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(terminal)
    assert os.waitstatus_to_exitcode(status) == 0, screen.decode(errors="replace")
