"""A thread relayed both ways between a Slack community on one deployment and a Matrix
community on another: two `hearth run` processes, two SQLite files, two ports on
127.0.0.1 (plain HTTP only through `allow_loopback_for_tests`). The works' forge is on
Slack (the loopback Web API; slash commands and events are signed requests to its HTTP
endpoint); the garden's guild is in a room of the real Synapse. A Slack steward invites,
a Matrix steward accepts `code@host`; Ann's thread is relayed to Slack, Bob's Slack reply
comes back into her thread (then his edit and his deletion), and Carl's next reply in it
reaches the Slack thread.

Waiting is on what the peers record: the Slack loopback's calls (a condition it signals)
and Synapse's long-polled `/sync` for a reader; never on sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.fakes.slack_loopback import (
    FORM,
    JSON,
    SECRET,
    TEAM,
    LoopbackSlack,
    command_body,
    event_body,
    send,
)
from tests.fakes.synapse_server import MatrixUser, SynapseServer, in_thread, synapse
from tests.harness.config_builder import Channel, Community, write_config
from tests.harness.matrix_harness import Room
from tests.test_federation import PASSPHRASE_ENV, free_port
from tests.test_relay_matrix import copies, edits_of, person, redacted, room_with, thread_of

__all__ = ["synapse"]

pytestmark = pytest.mark.slow

WAIT = 90.0  # a guard against hangs, not a time limit
LOGS = 'log_level = "INFO"\nlog_format = "json"'


class Run:
    """`python -m bot run` of one deployment, its JSON log read as it comes."""

    def __init__(self, config: Path, workdir: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "run", "--config", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=workdir,
            env={**{k: v for k, v in os.environ.items() if k != "HEARTH_CONFIG"}, **env},
        )
        self.lines: list[str] = []
        self._events: queue.Queue[dict[str, Any] | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", errors="replace").rstrip()
            self.lines.append(line)
            with contextlib.suppress(ValueError):
                event = json.loads(line)
                if isinstance(event, dict):
                    self._events.put(event)
        self._events.put(None)

    def expect(self, *names: str) -> None:
        """Until the log said each of `names`, in any order (AssertionError if it ends or
        hangs first)."""
        deadline = time.monotonic() + WAIT
        waiting = set(names)
        while waiting:
            name = ", ".join(sorted(waiting))
            try:
                event = self._events.get(timeout=max(deadline - time.monotonic(), 0.0))
            except queue.Empty:
                raise AssertionError(f"no {name!r}: " + "\n".join(self.lines[-30:])) from None
            if event is None:
                raise AssertionError(f"ended before {name!r}: " + "\n".join(self.lines[-30:]))
            waiting.discard(str(event.get("event")))

    def stderr(self) -> str:
        return "\n".join(self.lines)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def until_seen(server: SynapseServer, reader: MatrixUser, condition: Callable[[], bool]) -> None:
    """Long-poll `/sync` as `reader` (each call returns when something new happened in
    its rooms) until `condition` holds."""
    deadline = time.monotonic() + WAIT
    since = ""
    while not condition():
        assert time.monotonic() < deadline, "what was awaited never happened"
        query = "/_matrix/client/v3/sync?timeout=5000" + (f"&since={since}" if since else "")
        since = server.request("GET", query, None, reader.access_token)["next_batch"]


def room_messages(room: Room, reader: MatrixUser) -> list[dict[str, Any]]:
    path = f"/_matrix/client/v3/rooms/{quote(room.room_id)}/messages?dir=b&limit=200"
    chunk = room.server.request("GET", path, None, reader.access_token)["chunk"]
    return [e for e in reversed(chunk) if e["type"] == "m.room.message"]


def said(room: Room, reader: MatrixUser, pattern: str) -> str | None:
    for e in room_messages(room, reader):
        body = str(e["content"].get("body", ""))
        if re.search(pattern, body.replace("*", "")):
            return body
    return None


@pytest.fixture
def deployments(
    tmp_path: Path,
    sqlite_template: Path,
    synapse: SynapseServer,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[dict[str, Any]]:
    monkeypatch.setenv(PASSPHRASE_ENV, "two deployments, one passphrase each would do too")
    bot = synapse.register("hearth-fed")
    ann, carl = (
        person(synapse, "Ann", localpart="ann-fed"),
        person(synapse, "Carl", localpart="carl-fed"),
    )
    room = room_with(synapse, ann, bot, carl)
    yield {"server": synapse, "bot": bot, "ann": ann, "carl": carl, "room": room, "tmp": tmp_path}


def federation_extra(port: int, more: str) -> str:
    return f"""
[web]
listen = "127.0.0.1:{port}"

[federation]
enabled = true
key_passphrase = "${{{PASSPHRASE_ENV}}}"
allow_loopback_for_tests = true
poll_seconds = 1.0

[relay]
backoff_seconds = 0.2
max_backoff_seconds = 1.0
{more}"""


def prepared(tmp: Path, template: Path, name: str) -> Path:
    workdir = tmp / name
    workdir.mkdir()
    shutil.copy(template, workdir / "hearth.db")
    return workdir


async def test_a_slack_thread_and_a_matrix_thread_relay_both_ways_across_deployments(
    deployments: dict[str, Any], sqlite_template: Path
) -> None:
    server: SynapseServer = deployments["server"]
    bot, ann, carl = deployments["bot"], deployments["ann"], deployments["carl"]
    room: Room = deployments["room"]
    tmp: Path = deployments["tmp"]
    api = LoopbackSlack()
    await api.start()
    for user, name in (("USTEVE", "steve"), ("UBOB", "bob")):
        api.add_user(user, name)

    works_dir = prepared(tmp, sqlite_template, "works")
    works_port = free_port()
    forge = Community("forge", "The Forge", (Channel("slack", TEAM, "C1"),), ("slack:USTEVE",))
    slack = f"""
[adapters.slack]
enabled = true
signing_secret = "${{HEARTH_TEST_SLACK_SECRET}}"
bot_token = "${{HEARTH_TEST_SLACK_TOKEN}}"
api_url = "{api.api_url}"
rate_limit_retries = 0
"""
    works_config = write_config(
        works_dir / "hearth.toml",
        f"sqlite:///{works_dir / 'hearth.db'}",
        forge,
        console_user=None,
        hearth=LOGS,
        extra=federation_extra(works_port, slack),
    )
    garden_dir = prepared(tmp, sqlite_template, "garden")
    garden_port = free_port()
    guild = Community("guild", "The Guild", (Channel("matrix", server.server_name, room.room_id),))
    matrix = f"""
[adapters.matrix]
enabled = true
homeserver = "{server.url}"
user_id = "{bot.user_id}"
access_token = "${{HEARTH_MATRIX_ACCESS_TOKEN}}"
device_id = "{bot.device_id}"
sync_timeout_seconds = 5
watchdog_interval_seconds = 0
encryption = false
"""
    garden_config = write_config(
        garden_dir / "hearth.toml",
        f"sqlite:///{garden_dir / 'hearth.db'}",
        guild,
        console_user=None,
        hearth=LOGS,
        extra=federation_extra(garden_port, matrix),
    )
    works = Run(
        works_config,
        works_dir,
        {"HEARTH_TEST_SLACK_SECRET": SECRET, "HEARTH_TEST_SLACK_TOKEN": "xoxb-test"},
    )
    garden = Run(garden_config, garden_dir, {"HEARTH_MATRIX_ACCESS_TOKEN": bot.access_token})
    events = f"http://127.0.0.1:{works_port}/slack/events"  # on the [web] server

    def bot_posts() -> list[dict[str, Any]]:
        return [m for m in api.messages.get("C1", []) if m.get("bot_id")]

    async def matrix_until(condition: Callable[[], bool]) -> None:
        await asyncio.to_thread(until_seen, server, carl, condition)

    try:
        await asyncio.to_thread(works.expect, "ops.listening", "slack.mounted")
        await asyncio.to_thread(garden.expect, "ops.listening", "matrix.first_sync")
        invite = command_body("/constellation", "invite", "USTEVE", api.response_url("invite"))
        assert (await send(events, invite, FORM)).status == 200
        async with asyncio.timeout(WAIT):
            await api.wait_for(lambda: bool(api.responses))
        code = re.findall(r"HL-[A-Z0-9-]+@127\.0\.0\.1:\d+", str(api.responses[-1]))[-1]
        assert code.endswith(f"@127.0.0.1:{works_port}")

        await asyncio.to_thread(room.say, ann, f"!constellation accept {code}")
        await matrix_until(lambda: said(room, carl, r"Linked with The Forge") is not None)

        root = await asyncio.to_thread(room.say, ann, "Which linter do you use?")
        await asyncio.to_thread(
            room.send, ann, {"msgtype": "m.text", "body": "!relay", **in_thread(root)}
        )
        async with asyncio.timeout(WAIT):
            await api.wait_for(lambda: any("Which linter" in p["text"] for p in bot_posts()))
        slack_root = next(p for p in bot_posts() if "Which linter" in p["text"])
        assert slack_root.get("thread_ts", slack_root["ts"]) == slack_root["ts"]

        reply = {
            "type": "message",
            "user": "UBOB",
            "text": "we use *ruff* @channel",
            "ts": "1800000000.900000",
            "channel": "C1",
            "thread_ts": slack_root["ts"],
        }
        assert (await send(events, event_body(reply, "EvFed1"), JSON)).status == 200

        def back() -> list[dict[str, Any]]:
            return [e for e in copies(room, carl) if "we use" in e["content"]["body"]]

        await matrix_until(lambda: bool(back()))
        (copy,) = back()
        assert thread_of(copy) == root, "Bob's reply lands in Ann's thread"
        assert "bob" in copy["content"]["body"] and "The Forge" in copy["content"]["body"]
        assert copy["content"].get("m.mentions") == {}, "no mass mention on the copy"

        edited = {
            "type": "message",
            "subtype": "message_changed",
            "channel": "C1",
            "ts": "1800000000.900100",
            "message": {**reply, "text": "we use *ruff* and mypy"},
            "previous_message": reply,
        }
        assert (await send(events, event_body(edited, "EvFed2"), JSON)).status == 200
        await matrix_until(lambda: bool(edits_of(room, carl, copy["event_id"])))
        (change,) = edits_of(room, carl, copy["event_id"])
        assert "we use ruff and mypy" in change["content"]["m.new_content"]["body"].replace("*", "")

        await asyncio.to_thread(
            room.send,
            carl,
            {"msgtype": "m.text", "body": "ruff with format on save", **in_thread(root)},
        )
        async with asyncio.timeout(WAIT):
            await api.wait_for(lambda: any("format on save" in p["text"] for p in bot_posts()))
        (later,) = [p for p in bot_posts() if "format on save" in p["text"]]
        assert later["thread_ts"] == slack_root["ts"], "Carl's reply lands in the Slack thread"
        assert len([p for p in bot_posts() if "we use" in p["text"]]) == 0, "not echoed back"

        deleted = {
            "type": "message",
            "subtype": "message_deleted",
            "channel": "C1",
            "ts": "1800000000.900200",
            "deleted_ts": reply["ts"],
            "previous_message": {"ts": reply["ts"], "thread_ts": slack_root["ts"]},
        }
        assert (await send(events, event_body(deleted, "EvFed3"), JSON)).status == 200
        await matrix_until(lambda: redacted(room, carl, copy["event_id"]))
    finally:
        works.stop()
        garden.stop()
        await api.close()
    for run in (works, garden):
        assert "Traceback" not in run.stderr(), run.stderr()[-3000:]
