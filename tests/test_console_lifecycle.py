"""How Hearth.run treats its adapters: an ended console, a failing one, a stop request;
and console message identities that never collide with another console's."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from adapters.console.adapter import ConsoleAdapter, database_numbers
from adapters.console.transcript import TranscriptInUse
from bot.app import Hearth
from bot.config import Config, ConsoleConfig
from bot.supervise import AdapterFailed
from knowledge.sync_tokens import SyncTokens
from tests.harness.console_harness import Screen, make_config, run_script

GUARD = 60.0  # seconds: only a guard against hangs, never a timing check


class Typist:
    """A console's input: lines put by the test, read one at a time; None ends it."""

    def __init__(self) -> None:
        self.lines: asyncio.Queue[str | None] = asyncio.Queue()
        self.cancelled = asyncio.Event()  # the console stopped waiting for input

    async def read_line(self) -> str | None:
        try:
            return await self.lines.get()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise


def console(
    config: Config,
    hearth: Hearth,
    tmp_path: Path,
    name: str,
    read_line: Callable[[], Awaitable[str | None]],
) -> tuple[ConsoleAdapter, Screen]:
    settings = ConsoleConfig(user=name, transcript=tmp_path / f"{name}.jsonl")
    screen = Screen()
    numbers = database_numbers(SyncTokens(hearth.database), settings.space)
    return ConsoleAdapter(settings, read_line, screen, numbers=numbers), screen


async def test_a_console_whose_input_ends_leaves_the_others_serving(
    database_url: str, tmp_path: Path
) -> None:
    config = make_config(database_url, tmp_path)
    hearth = await Hearth.open(config, relay_in_background=False)
    ended, typist, stop = Typist(), Typist(), asyncio.Event()
    first, first_screen = console(config, hearth, tmp_path, "ann", ended.read_line)
    second, second_screen = console(config, hearth, tmp_path, "bob", typist.read_line)
    running = asyncio.create_task(hearth.run([first, second], stop))
    try:
        ended.lines.put_nowait("/insight said before the end")
        ended.lines.put_nowait(None)
        await asyncio.wait_for(first.wait_closed(), GUARD)
        await first_screen.shows("Captured insight #1 from ann")

        typist.lines.put_nowait("/insight said after the other console ended")
        await second_screen.shows("Captured insight #2 from bob")
        assert not running.done()
        stop.set()
        await asyncio.wait_for(running, GUARD)
    finally:
        await hearth.close()


async def test_a_failing_adapter_stops_hearth_with_its_cause(
    database_url: str, tmp_path: Path
) -> None:
    config = make_config(database_url, tmp_path)
    hearth = await Hearth.open(config, relay_in_background=False)
    healthy = Typist()

    async def broken() -> str | None:
        raise OSError("the terminal went away")

    first, _ = console(config, hearth, tmp_path, "ann", healthy.read_line)
    second, _ = console(config, hearth, tmp_path, "bob", broken)
    try:
        with pytest.raises(AdapterFailed) as failed:
            await asyncio.wait_for(hearth.run([first, second]), GUARD)
    finally:
        await hearth.close()
    assert str(failed.value) == (
        "the console adapter failed (OSError: the terminal went away), so Hearth stopped; "
        "the log above has the details"
    )
    assert healthy.cancelled.is_set()  # the healthy console was stopped too


async def test_a_stop_request_lets_the_line_in_hand_finish(
    database_url: str, tmp_path: Path
) -> None:
    config = make_config(database_url, tmp_path)
    hearth = await Hearth.open(config, relay_in_background=False)
    stop = asyncio.Event()
    given = False

    async def last_words() -> str | None:
        nonlocal given
        if given:
            await asyncio.Event().wait()  # nothing more is typed
        given = True
        stop.set()  # SIGTERM arrives just as the line was read
        return "/insight the line in hand"

    adapter, screen = console(config, hearth, tmp_path, "ann", last_words)
    try:
        await asyncio.wait_for(hearth.run([adapter], stop), GUARD)
    finally:
        await hearth.close()
    assert "Captured insight #1 from ann: “the line in hand”" in screen.getvalue()


async def test_quit_asks_hearth_to_stop_even_with_other_adapters(
    database_url: str, tmp_path: Path
) -> None:
    config = make_config(database_url, tmp_path)
    hearth = await Hearth.open(config, relay_in_background=False)
    stop, quitting, idle = asyncio.Event(), Typist(), Typist()
    settings = ConsoleConfig(user="ann", transcript=tmp_path / "ann.jsonl")
    first = ConsoleAdapter(settings, quitting.read_line, Screen(), on_quit=stop.set)
    second, _ = console(config, hearth, tmp_path, "bob", idle.read_line)
    quitting.lines.put_nowait(":quit")
    try:
        await asyncio.wait_for(hearth.run([first, second], stop), GUARD)
    finally:
        await hearth.close()
    assert idle.cancelled.is_set()


async def test_two_transcripts_on_one_database_never_share_a_message_identity(
    database_url: str, tmp_path: Path
) -> None:
    """Two folders on one database, or a deleted transcript: both start at message #1."""
    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir(), there.mkdir()
    first = await run_script(make_config(database_url, here), ["/insight from here"])
    second = await run_script(
        make_config(database_url, there),
        ["/insight retros from there", "Worth keeping", ":react 5 💡", "/search retros"],
    )
    (there / "console.jsonl").unlink()
    third = await run_script(make_config(database_url, there), ["/insight after a fresh start"])
    assert "💡 Captured insight #1 from alice: “from here”" in first
    assert "💡 Captured insight #2 from alice: “retros from there”" in second
    assert "💡 Captured insight #3 from alice: “Worth keeping”" in second
    assert "1 insight(s) match “retros”" in second
    assert "💡 Captured insight #4 from alice: “after a fresh start”" in third


async def test_every_message_gets_an_event_identity_of_its_own_run(
    database_url: str, tmp_path: Path
) -> None:
    """Without the database's numbering, a reused number is still a new event: the
    inbound log never takes it for one already handled."""
    config = make_config(database_url, tmp_path)
    outputs = []
    for run in range(2):
        hearth = await Hearth.open(config, relay_in_background=False)
        typist = Typist()
        typist.lines.put_nowait(f"/insight same number, run {run}")
        typist.lines.put_nowait(None)
        screen = Screen()
        settings = ConsoleConfig(user="ann", transcript=tmp_path / f"run{run}.jsonl")

        try:
            await asyncio.wait_for(
                hearth.run([ConsoleAdapter(settings, typist.read_line, screen)]), GUARD
            )
        finally:
            await hearth.close()
        outputs.append(screen.getvalue())
    assert "#1 ann: /insight same number, run 0" in outputs[0]
    assert "#1 ann: /insight same number, run 1" in outputs[1]
    assert re.search(r"hearth.*: (💡 Captured|Already captured)", outputs[1])  # not skipped


async def test_an_adapter_that_cannot_start_stops_hearth_with_its_cause(
    database_url: str, tmp_path: Path
) -> None:
    config = make_config(database_url, tmp_path)
    hearth = await Hearth.open(config, relay_in_background=False)
    (tmp_path / "a-folder.jsonl").mkdir()
    settings = ConsoleConfig(transcript=tmp_path / "a-folder.jsonl")
    try:
        with pytest.raises(AdapterFailed, match=r"^the console adapter failed while starting "):
            await asyncio.wait_for(
                hearth.run([ConsoleAdapter(settings, Typist().read_line)]), GUARD
            )
    finally:
        await hearth.close()


async def test_two_consoles_on_one_transcript_are_refused_in_one_sentence(
    database_url: str, tmp_path: Path
) -> None:
    config = make_config(database_url, tmp_path)
    hearth = await Hearth.open(config, relay_in_background=False)
    settings = ConsoleConfig(transcript=tmp_path / "shared.jsonl")
    both = [ConsoleAdapter(settings, Typist().read_line, Screen()) for _ in range(2)]
    try:
        with pytest.raises(TranscriptInUse, match="is in use by another running console"):
            await asyncio.wait_for(hearth.run(both), GUARD)
    finally:
        await hearth.close()
