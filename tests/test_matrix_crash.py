"""Kill -9 at every step of a Matrix command's life: each command answered exactly once.

A real `python -m bot run` against the real Synapse, killed (SIGKILL, by itself through
`HEARTH_FAULT`, see bot/faults.py) right after it took a command, after the command
stored its insight, after the reply was sent but before the command was marked done, and
after a whole sync batch was handled but before its token was saved, and restarted at
once each time, as systemd or Docker would. Afterwards every command has exactly one
insight and exactly one reply, and nothing is left unfinished in the InboundLog.
"""

from __future__ import annotations

import json
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import text

from knowledge.db import open_database
from tests.fakes.synapse_server import MatrixUser, SynapseServer, synapse  # noqa: F401
from tests.harness.config_builder import Channel, Community
from tests.harness.config_builder import write_config as build

pytestmark = pytest.mark.slow

COMMANDS = 30
TIMEOUT = 60.0
SEED = 2026
FAULTS = ("inbound.after_take", "inbound.after_handle", "inbound.after_reply")


class HearthRun:
    """`python -m bot run` with JSON logs read from its stderr, event by event."""

    def __init__(self, config: Path, workdir: Path, token: str, fault: str | None) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "HEARTH_MATRIX_ACCESS_TOKEN": token}
        env.pop("HEARTH_CONFIG", None)
        env.pop("HEARTH_FAULT", None)
        if fault is not None:
            env["HEARTH_FAULT"] = fault
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "run", "--config", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=workdir,
            env=env,
        )
        self.lines: list[str] = []
        self._events: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", errors="replace").rstrip()
            self.lines.append(line)
            try:
                event = json.loads(line)
            except ValueError:
                continue  # a library's plain warning
            if isinstance(event, dict):
                self._events.put(event)
        self._events.put(None)

    def events(self, timeout: float = TIMEOUT) -> Any:
        """Log events as they come; ends with the output (AssertionError after timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                event = self._events.get(timeout=max(deadline - time.monotonic(), 0.0))
            except queue.Empty:
                raise AssertionError(self.describe("timed out waiting for the log")) from None
            if event is None:
                return
            yield event

    def expect(self, name: str) -> dict[str, Any]:
        for event in self.events():
            if event.get("event") == name:
                return event
        raise AssertionError(self.describe(f"the log ended before {name!r}"))

    def exit_code(self) -> int:
        return self.proc.wait(timeout=TIMEOUT)

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.exit_code()

    def describe(self, problem: str) -> str:
        return problem + "\n--- last log lines ---\n" + "\n".join(self.lines[-30:])

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=TIMEOUT)


def write_config(
    path: Path, database_url: str, server: SynapseServer, bot: MatrixUser, room: str
) -> Path:
    guild = Community("guild", "The Guild", (Channel("matrix", server.server_name, room),))
    matrix = f"""
[adapters.console]
enabled = false

[adapters.matrix]
enabled = true
homeserver = "{server.url}"
user_id = "{bot.user_id}"
access_token = "${{HEARTH_MATRIX_ACCESS_TOKEN}}"
device_id = "{bot.device_id}"
sync_timeout_seconds = 5
watchdog_interval_seconds = 0
"""
    return build(
        path,
        database_url,
        guild,
        console_user=None,
        hearth='log_level = "INFO"\nlog_format = "json"',
        extra=matrix,
    )


def say(server: SynapseServer, room: str, who: MatrixUser, body: str, txn: str) -> str:
    path = f"/_matrix/client/v3/rooms/{quote(room)}/send/m.room.message/{txn}"
    answer = server.request("PUT", path, {"msgtype": "m.text", "body": body}, who.access_token)
    return str(answer["event_id"])


def replies(server: SynapseServer, room: str, who: MatrixUser) -> dict[str, list[str]]:
    """The bot's notices in the room, by the event each one answers."""
    found: dict[str, list[str]] = {}
    start = ""
    while True:
        page = server.request(
            "GET",
            f"/_matrix/client/v3/rooms/{quote(room)}/messages?dir=b&limit=100{start}",
            None,
            who.access_token,
        )
        for event in page["chunk"]:
            content = event.get("content") or {}
            answered = ((content.get("m.relates_to") or {}).get("m.in_reply_to") or {}).get(
                "event_id"
            )
            if content.get("msgtype") == "m.notice" and answered:
                found.setdefault(answered, []).append(content["body"])
        if not page["chunk"] or "end" not in page:
            return found
        start = f"&from={quote(page['end'])}"


async def rows(database_url: str, sql: str) -> list[tuple[Any, ...]]:
    database = open_database(database_url)
    try:
        async with database.engine.connect() as connection:
            return [tuple(r) for r in (await connection.execute(text(sql))).all()]
    finally:
        await database.dispose()


async def test_every_command_is_answered_once_across_kills_at_every_step(
    synapse: SynapseServer,  # noqa: F811
    database_url: str,
    tmp_path: Path,
) -> None:
    server, rng = synapse, random.Random(SEED)
    bot, ann = server.register("hearth"), server.register("ann")
    room = server.request(
        "POST",
        "/_matrix/client/v3/createRoom",
        {"preset": "private_chat", "name": "crashes", "invite": [bot.user_id]},
        ann.access_token,
    )["room_id"]
    config = write_config(tmp_path / "hearth.toml", database_url, server, bot, room)
    answered: Counter[str] = Counter()  # command event id -> runs that finished it

    def run(fault: str | None = None) -> HearthRun:
        return HearthRun(config, tmp_path, bot.access_token, fault)

    # The first run is a new install: its first sync joins the room, then the commands
    # come. It and every run after it is killed at one step and restarted at once.
    plan = [f"{step}:{rng.randint(2, 5)}" for step in FAULTS] + ["matrix.before_token_save:1"]
    commands: list[str] = []
    for fault in plan:
        process = run(fault)
        try:
            if not commands:
                process.expect("matrix.joined")
                commands = [
                    say(server, room, ann, f"!insight note {n} #crash", f"note-{n}")
                    for n in range(1, COMMANDS + 1)
                ]
            for event in process.events():
                if event.get("event") == "command.answered":
                    answered[event["event_id"]] += 1
            assert process.exit_code() == -signal.SIGKILL, process.describe(f"{fault} not hit")
            assert any('"fault.crashing"' in line for line in process.lines)
        finally:
            process.kill()

    # A last clean run: one more command, answered after the replayed batch was handled.
    last = run()
    try:
        last.expect("adapter.started")
        final = say(server, room, ann, "!insight the last word #crash", "last")
        for event in last.events():
            if event.get("event") == "command.answered":
                answered[event["event_id"]] += 1
            if answered[final]:
                break
        else:
            raise AssertionError(last.describe("the log ended before the last command's answer"))
        assert last.stop() == 0, last.describe("unclean stop")
    finally:
        last.kill()
    everything = {*commands, final}

    # Each command finished once: a redelivery after a finished run is skipped, not rerun.
    assert set(answered) == everything
    assert max(answered.values()) == 1, answered

    # Exactly one insight per command, from the command's own message, and one reply each.
    insights = await rows(
        database_url,
        "SELECT s.message_id, i.body FROM insights i JOIN sources s ON s.id = i.source_id",
    )
    by_source = Counter(message_id for message_id, _ in insights)
    assert set(by_source) == everything and set(by_source.values()) == {1}
    bodies = dict(insights)
    assert [bodies[c] for c in commands] == [f"note {n}" for n in range(1, COMMANDS + 1)]
    shown = replies(server, room, ann)
    for command in everything:
        assert len(shown.get(command, [])) == 1, (command, shown.get(command))
        assert "insight #" in shown[command][0]
    assert await rows(
        database_url, "SELECT count(*) FROM inbound_events WHERE done_at IS NULL"
    ) == [(0,)]
