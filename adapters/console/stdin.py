"""Lines from standard input: a person at a terminal (readline) or a script (a pipe).

Why a thread and raw bytes: reading blocks, and a line that is not valid text must become
one clear message instead of ending the console.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import re
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import TextIO

import structlog

log = structlog.get_logger(__name__)

LineReader = Callable[[], Awaitable[str | None]]


class UnreadableLine(Exception):
    """One input line that cannot be read (not valid text); reading goes on after it."""


def _undecodable(raw: bytes, exc: UnicodeDecodeError, encoding: str) -> UnreadableLine:
    return UnreadableLine(
        f"That line is not valid {encoding.upper()} text (byte 0x{raw[exc.start]:02x} at position "
        f"{exc.start + 1}); it was ignored."
    )


def stdin_reader(prompt: Callable[[], str], stream: TextIO | None = None) -> LineReader:
    """Lines from stdin, read one at a time on request by a daemon thread.

    A daemon thread (not the default executor) so Ctrl-C ends the program at once; one
    line per request so the prompt never appears before the previous line's replies.
    Bytes are decoded here, so a line that is not valid text is reported and skipped
    instead of ending the input.
    """
    stream = stream or sys.stdin
    interactive = stream is sys.stdin and stream.isatty()
    if interactive:
        import readline  # noqa: F401  (enables line editing and history for input())

        _restore_terminal_at_exit(stream)
    encoding = getattr(stream, "encoding", None) or "utf-8"
    piped: _FdLines | None = None
    wanted = threading.Semaphore(0)
    lines: asyncio.Queue[str | UnreadableLine | None] | None = None

    def read() -> str | UnreadableLine | None:
        nonlocal piped
        try:
            if interactive:  # input() decodes with surrogateescape: a bad byte is U+DCxx
                line = input(prompt())
                escaped = re.search("[\udc80-\udcff]", line)
                if escaped is None:
                    return line
                return UnreadableLine(
                    f"That line is not valid {encoding.upper()} text (byte "
                    f"0x{ord(escaped[0]) - 0xDC00:02x}); it was ignored."
                )
            piped = piped or _FdLines(stream.fileno())
            raw = piped.readline()
            if not raw:
                return None
            try:
                return raw.decode(encoding)
            except UnicodeDecodeError as exc:
                return _undecodable(raw, exc, encoding)
        except EOFError:
            return None
        except UnicodeDecodeError as exc:  # input() on a terminal sending bad bytes
            return _undecodable(exc.object, exc, encoding)
        except (OSError, ValueError) as exc:  # stdin closed or gone: the input has ended
            log.warning("console.input_unreadable", error=repr(exc))
            return None

    def pump(
        loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[str | UnreadableLine | None]
    ) -> None:
        while True:
            wanted.acquire()
            line = read()
            try:
                loop.call_soon_threadsafe(queue.put_nowait, line)
            except RuntimeError:  # the loop has closed: nobody is reading any more
                return
            if line is None:
                return

    async def next_line() -> str | None:
        nonlocal lines
        if lines is None:
            lines = asyncio.Queue()
            loop = asyncio.get_running_loop()
            threading.Thread(target=pump, args=(loop, lines), daemon=True).start()
        wanted.release()
        line = await lines.get()
        if isinstance(line, UnreadableLine):
            raise line
        return line

    return next_line


def _restore_terminal_at_exit(stream: TextIO) -> None:
    """Stopping while readline waits for a line would leave the terminal without echo:
    put back the settings it had (atexit handlers run however `hearth` exits)."""
    try:
        import termios

        fd = stream.fileno()
        saved = termios.tcgetattr(fd)
    except (ImportError, OSError, ValueError):
        return
    atexit.register(lambda: _quietly(lambda: termios.tcsetattr(fd, termios.TCSADRAIN, saved)))


def _quietly(action: Callable[[], object]) -> None:
    with contextlib.suppress(OSError, ValueError):
        action()


class _FdLines:
    """Lines straight from a file descriptor. Not `sys.stdin`: a daemon thread blocked in
    its buffered reader holds a lock that makes interpreter shutdown abort (SIGABRT)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._pending = b""
        self._ended = False

    def readline(self) -> bytes:
        while b"\n" not in self._pending and not self._ended:
            chunk = os.read(self._fd, 65536)
            self._ended = not chunk
            self._pending += chunk
        line, newline, self._pending = self._pending.partition(b"\n")
        return line + newline
