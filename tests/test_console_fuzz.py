"""Whatever is typed or piped, the console answers and reads on (property-based).

Three layers: the directive parser on any text, the stdin reader on any bytes, and the
whole console (real Hearth, real store) on any line followed by a line that must work.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.console.adapter import ConsoleAdapter
from adapters.console.directives import Directive, parse_directive
from adapters.console.stdin import UnreadableLine, stdin_reader
from bot.app import Hearth
from tests.harness.console_harness import Screen, make_config

GUARD = 60.0  # seconds: only a guard against hangs

PREFIXES = [
    ":as ",
    ":channel ",
    ":reply ",
    ":react ",
    ":edit ",
    ":delete ",
    ":dm ",
    ":help",
    ":",
    "/insight ",
    "/search ",
    "/insight message:",
    ":react 1 ",
    ":reply 1 /insight ",
    "/",
]
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=60)
typed = st.one_of(any_text, st.builds(str.__add__, st.sampled_from(PREFIXES), any_text))


@given(typed)
def test_directives_parse_or_explain_never_raise(line: str) -> None:
    parsed = parse_directive(":" + line.lstrip(":"))
    assert isinstance(parsed, Directive | str)
    if isinstance(parsed, str):
        assert parsed and "\n" not in parsed
    elif parsed.name in ("reply", "react", "edit", "delete"):
        assert isinstance(parsed.message_id, int) and parsed.message_id >= 0


@given(st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=8))
@settings(deadline=None, max_examples=60)
def test_the_stdin_reader_hands_back_every_line_or_says_why_not(lines: list[bytes]) -> None:
    read_end, write_end = os.pipe()
    stream = open(read_end, encoding="utf-8")  # noqa: SIM115 (closed below)
    writer = threading.Thread(target=_write_all, args=(write_end, lines))
    writer.start()

    async def read_all() -> list[str | UnreadableLine]:
        next_line = stdin_reader(lambda: "", stream)
        got: list[str | UnreadableLine] = []
        while True:
            try:
                line = await asyncio.wait_for(next_line(), GUARD)
            except UnreadableLine as exc:
                got.append(exc)
                continue
            if line is None:
                return got
            got.append(line)

    try:
        got = asyncio.run(read_all())
    finally:
        writer.join(GUARD)
        stream.close()
    assert len(got) == len(lines)
    for raw, line in zip(lines, got, strict=True):
        try:
            assert line == raw.decode("utf-8") + "\n"
        except UnicodeDecodeError:
            assert isinstance(line, UnreadableLine) and "not valid UTF-8" in str(line)


def _write_all(fd: int, lines: list[bytes]) -> None:
    with open(fd, "wb") as pipe:
        pipe.write(b"".join(line + b"\n" for line in lines))


class Session:
    """One Hearth and one console for many examples: a line in, wait for the answer."""

    def __init__(self, database_url: str, tmp_path: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.lines: asyncio.Queue[str | None] = asyncio.Queue()
        self.out = Screen()
        self.count = 0
        config = make_config(database_url, tmp_path)
        self.hearth = self.loop.run_until_complete(Hearth.open(config, relay_in_background=False))
        adapter = ConsoleAdapter(config.adapters.console, self.lines.get, self.out)
        self.running = self.loop.create_task(self.hearth.run([adapter]))

    def survives(self, line: str) -> None:
        """Type `line`, then a capture that must succeed: the console read on."""
        self.count += 1
        expected = f"“still here {self.count}”"
        for each in (line, ":channel general", ":as alice", f"/insight still here {self.count}"):
            self.lines.put_nowait(each)
        self.loop.run_until_complete(asyncio.wait_for(self._until(expected), GUARD))

    async def _until(self, text: str) -> None:
        while text not in self.out.getvalue():
            if self.running.done():
                self.running.result()
                raise AssertionError(f"the console ended:\n{self.out.getvalue()[-2000:]}")
            self.out.changed.clear()
            changed = asyncio.ensure_future(self.out.changed.wait())
            await asyncio.wait([changed, self.running], return_when=asyncio.FIRST_COMPLETED)
            changed.cancel()

    def close(self) -> None:
        self.lines.put_nowait(None)
        try:
            self.loop.run_until_complete(asyncio.wait_for(self.running, GUARD))
        finally:
            self.loop.run_until_complete(self.hearth.close())
            self.loop.close()


@pytest.fixture
def session(database_url: str, tmp_path: Path) -> Iterator[Session]:
    opened = Session(database_url, tmp_path)
    try:
        yield opened
    finally:
        opened.close()


def test_any_line_gets_an_answer_and_the_console_reads_on(session: Session) -> None:
    @given(typed.filter(lambda line: line.strip() not in (":quit", ":q")))
    @settings(
        deadline=None,
        max_examples=80,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    def check(line: str) -> None:
        session.survives(line)

    check()
    assert "Traceback" not in session.out.getvalue()
