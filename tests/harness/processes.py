"""Helpers for tests that run Hearth in other OS processes.

`HearthProcess` drives `python -m bot run` through its stdin and stdout, reading output
lines with a deadline (never sleeping to synchronise). `capture_worker` is the target of
the spawned processes that race each other on one store.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import re
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

READ_TIMEOUT = 120.0  # a guard against hangs only: a loaded machine can take 10 s to start


class HearthProcess:
    """`hearth run --config ...` as a child process, spoken to line by line."""

    def __init__(self, config: Path, workdir: Path) -> None:
        env = {**os.environ, "PYTHONIOENCODING": "utf-8", "PYTHONUNBUFFERED": "1"}
        env.pop("HEARTH_CONFIG", None)
        self._stderr_path = workdir / f"stderr-{id(self)}.log"
        self._stderr: IO[bytes] = self._stderr_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "run", "--config", str(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            cwd=workdir,
            env=env,
        )
        self.lines: list[str] = []  # everything read so far, in order
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._eof = False
        self._reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._reader.start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self._queue.put(raw.decode("utf-8", errors="replace").rstrip("\r\n"))
        self._queue.put(None)

    def send(self, *lines: str) -> None:
        self.send_bytes("".join(f"{line}\n" for line in lines).encode("utf-8"))

    def send_bytes(self, data: bytes) -> None:
        """Raw stdin bytes: what a pipe may carry that is not UTF-8 text."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def signal(self, signum: int) -> int:
        """Send a signal (stdin still open) and return the exit status once it has ended."""
        self.proc.send_signal(signum)
        code = self.proc.wait(timeout=READ_TIMEOUT)
        self._drain()
        return code

    def next_line(self, deadline: float) -> str | None:
        """The next output line; None at end of output; AssertionError after the deadline."""
        if self._eof:
            return None
        remaining = deadline - _now()
        try:
            line = self._queue.get(timeout=max(remaining, 0.0))
        except queue.Empty:
            raise AssertionError(self.describe("timed out waiting for output")) from None
        if line is None:
            self._eof = True
            return None
        self.lines.append(line)
        return line

    def expect(self, pattern: str, timeout: float = READ_TIMEOUT) -> re.Match[str]:
        """Read lines until one matches the regular expression `pattern` (searched)."""
        return self.expect_where(lambda line: re.search(pattern, line), pattern, timeout)

    def expect_where(
        self,
        matcher: Callable[[str], re.Match[str] | None],
        what: str,
        timeout: float = READ_TIMEOUT,
    ) -> re.Match[str]:
        """`timeout` is the longest silence tolerated: a guard against hangs, renewed by
        every line, never a limit on how long the whole wait may take."""
        while True:
            line = self.next_line(_now() + timeout)
            if line is None:
                raise AssertionError(self.describe(f"output ended before {what!r}"))
            found = matcher(line)
            if found is not None:
                return found

    def kill(self, after: float = 0.0) -> None:
        """SIGKILL, `after` seconds from now: no clean-up code of the child runs."""
        if after > 0:
            time.sleep(after)
        self.proc.kill()
        self.proc.wait(timeout=READ_TIMEOUT)
        self._drain()

    def quit(self) -> int:
        """Ask the console to stop (`:quit` then EOF) and return the exit status."""
        assert self.proc.stdin is not None
        self.send(":quit")
        self.proc.stdin.close()
        code = self.proc.wait(timeout=READ_TIMEOUT)
        self._drain()
        return code

    def _drain(self) -> None:
        self._reader.join(timeout=READ_TIMEOUT)
        while not self._eof:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                break
            if line is None:
                self._eof = True
            else:
                self.lines.append(line)
        self._stderr.close()
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                self.proc.stdin.close()

    def stderr(self) -> str:
        if not self._stderr.closed:
            self._stderr.flush()
        return self._stderr_path.read_text(encoding="utf-8", errors="replace")

    def describe(self, problem: str) -> str:
        tail = "\n".join(self.lines[-25:])
        return f"{problem}\n--- last stdout lines ---\n{tail}\n--- stderr ---\n{self.stderr()}"

    def __enter__(self) -> HearthProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.proc.poll() is None:
            self.kill()
        elif not self._stderr.closed:
            self._drain()


def _now() -> float:
    return time.monotonic()


# -- racing processes -------------------------------------------------------------------


@dataclass(frozen=True)
class WorkerResult:
    worker: int
    created: int
    community_id: int
    curator_id: int
    author_ids: dict[str, int]
    error: str | None = None


@dataclass(frozen=True)
class Message:
    """What each worker captures: the same messages in every process."""

    message_id: str
    text: str
    author: str
    tags: tuple[str, ...]


def capture_worker(
    worker: int,
    database_url: str,
    messages: Sequence[Message],
    order: Sequence[int],
    start: Any,  # a multiprocessing Barrier shared by all workers
    results: Any,  # a multiprocessing Queue of WorkerResult
) -> None:
    try:
        created, community_id, curator_id, authors = asyncio.run(
            _capture_all(database_url, messages, order, start)
        )
        results.put(WorkerResult(worker, created, community_id, curator_id, authors))
    except BaseException:
        results.put(WorkerResult(worker, -1, -1, -1, {}, traceback.format_exc()))


async def _capture_all(
    database_url: str, messages: Sequence[Message], order: Sequence[int], start: Any
) -> tuple[int, int, int, dict[str, int]]:
    from knowledge.db import open_database
    from knowledge.directory import Directory
    from knowledge.insights import InsightStore
    from knowledge.views import SourceMessage

    database = open_database(database_url)
    try:
        directory = Directory(database)
        store = InsightStore(database)
        start.wait(READ_TIMEOUT)  # everyone is imported and connected: go together
        community = await directory.ensure_community("guild", "The Guild", "UTC")
        curator = await directory.resolve_member(community.id, "console", "cora", "Cora")
        created = 0
        for index in order:
            message = messages[index]
            source = SourceMessage(
                platform="console",
                space="local",
                channel="general",
                message_id=message.message_id,
                text=message.text,
                author_user_id=message.author,
                author_name=message.author.title(),
                permalink=f"console://local/general/{message.message_id}",
            )
            result = await store.capture(community.id, source, curator=curator, tags=message.tags)
            created += result.created
        authors: dict[str, int] = {}
        for name in sorted({m.author for m in messages}):
            member = await directory.resolve_member(community.id, "console", name, name.title())
            authors[name] = member.id
        return created, community.id, curator.id, authors
    finally:
        await database.dispose()
