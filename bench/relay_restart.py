"""First live relay after a restart, with a long relay history, beside a floor.

Two communities on the console (SQLite) (#general → #hall), linked in whole-channel mode, so
every message is a relayed thread. `--history` relayed threads (default 1,000) are
seeded cheaply: their roots appended to the console transcript, their rows written to
the store in one transaction, as months of a busy link leave them. Then Hearth restarts
as `hearth run` starts it (`Hearth.open`, `Hearth.run` with the outbox worker in the
background) and one new message is typed at once; the clock stops when the console
prints its relayed copy in #hall. Hearth's catch-up reads every one of those threads
(the console cannot tell what changed while no catch-up position was saved, as Slack and
Discord cannot), so this is the worst case.

Why `--request-ms` (default 25): the console reads its history from a local file, a
real platform over the network; every thread read (`fetch_thread`, `fetch_message`)
waits two such round trips here, as a root plus its replies take on Matrix, Slack and
Discord. Live posting is not slowed.

The floor is the same restart with no history at all: what opening the store,
connecting, starting and relaying one message cost. "ratio" is the figure over the floor.

    .venv/bin/python bench/relay_restart.py                    # 3 restarts of each
    .venv/bin/python bench/relay_restart.py --history 200 --request-ms 0

To measure another checkout (e.g. main before this change) with this script:
`HEARTH_CODE=/path/to/checkout .venv/bin/python bench/relay_restart.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import logging
import os
import re
import statistics
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))  # tests/ (a namespace package) from this checkout too
sys.path.insert(0, os.environ.get("HEARTH_CODE") or str(HERE.parent))

from measure import machine_info  # noqa: E402
from sqlalchemy import select  # noqa: E402

from adapters.console.adapter import ConsoleAdapter  # noqa: E402
from adapters.console.transcript import ConsoleMessage  # noqa: E402
from bot.app import Hearth  # noqa: E402
from bot.config import Config  # noqa: E402
from bot.events import ChatMessage, MessageRef  # noqa: E402
from bot.relay.payload import digest  # noqa: E402
from knowledge.db import open_database  # noqa: E402
from knowledge.models import (  # noqa: E402
    Community,
    Link,
    RelayMessage,
    RelayParticipant,
    RelayThread,
)
from tests.harness.config_builder import FORGE, GUILD, build_config  # noqa: E402

WAIT = 900.0  # a hang guard, far above any expected figure
CODE = re.compile(r"HL-[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}")


def make_config(directory: Path) -> Config:
    url = f"sqlite:///{directory / 'hearth.db'}"
    return build_config(url, directory, GUILD, FORGE, hearth='log_level = "ERROR"')


class SlowReads(ConsoleAdapter):
    """The console, with a network round trip's wait on every history read."""

    request_seconds = 0.0

    async def fetch_message(self, ref: MessageRef) -> ChatMessage:
        await asyncio.sleep(self.request_seconds)
        return await super().fetch_message(ref)

    async def fetch_thread(self, ref: MessageRef) -> list[ChatMessage]:
        await asyncio.sleep(2 * self.request_seconds)
        return await super().fetch_thread(ref)


class Printed(io.StringIO):
    """The console's output, noting when a line containing `wanted` is printed."""

    def __init__(self) -> None:
        super().__init__()
        self.wanted: str | None = None
        self.seen = asyncio.Event()
        self.at = 0.0

    def write(self, text: str) -> int:
        if self.wanted is not None and self.wanted in text and not self.seen.is_set():
            self.at = time.perf_counter()
            self.seen.set()
        return super().write(text)


async def session(config: Config, lines: list[str], out: Printed, wait_for: str | None) -> float:
    """Run Hearth over these console lines; with `wait_for`, end once it is printed and
    return the seconds from opening Hearth to then."""
    pending = list(lines)
    out.wanted, out.seen = wait_for, asyncio.Event()

    async def read_line() -> str | None:
        if pending:
            line = pending.pop(0)
            if line == "<invite code>":
                line = "/constellation accept " + CODE.findall(out.getvalue())[-1]
            return line + "\n"
        if wait_for is not None:
            await out.seen.wait()
        return None

    started = time.perf_counter()
    hearth = await Hearth.open(config)
    try:
        async with asyncio.timeout(WAIT):
            await hearth.run([SlowReads(config.adapters.console, read_line, out)])
    finally:
        await hearth.close()
    return out.at - started if wait_for is not None else 0.0


async def link(config: Config, out: Printed) -> None:
    """Steve invites, Fran accepts, the Guild sends every thread of #general to #hall."""
    await session(
        config,
        [
            ":as steve",
            "/constellation invite",
            ":as fran",
            ":channel hall",
            "<invite code>",
            ":channel general",
            ":as steve",
            "/constellation scope forge mode:channel",
            ":as alice",
            "Linked and relaying",
        ],
        out,
        "via hearth: Linked and relaying",
    )


def append_roots(directory: Path, count: int, at: datetime) -> list[ConsoleMessage]:
    """`count` thread roots in the transcript, as a busy channel leaves them."""
    path = directory / "console.jsonl"
    last = max(json.loads(line)["id"] for line in path.read_text().splitlines() if line.strip())
    roots = [
        ConsoleMessage(last + 1 + n, "local", "general", "alice", f"Old thread {n}", at.isoformat())
        for n in range(count)
    ]
    with path.open("a", encoding="utf-8") as f:
        f.writelines(json.dumps(asdict(root)) + "\n" for root in roots)
    return roots


async def seed(config: Config, roots: list[ConsoleMessage], at: datetime) -> None:
    """The store's rows for these roots: each a thread relayed from #general to #hall."""
    database = open_database(config.hearth.database_url)
    try:
        async with database.sessions.begin() as s:
            guild = await s.scalar(select(Community.id).where(Community.slug == "guild"))
            forge = await s.scalar(select(Community.id).where(Community.slug == "forge"))
            link_id = await s.scalar(select(Link.id))
            assert guild is not None and forge is not None and link_id is not None
            threads = [
                RelayThread(origin_community_id=guild, created_at=at, last_activity_at=at)
                for _ in roots
            ]
            s.add_all(threads)
            await s.flush()
            origins = [
                RelayParticipant(
                    relay_thread_id=t.id,
                    community_id=guild,
                    platform="console",
                    space="local",
                    channel="general",
                    anchor_id=str(r.id),
                )
                for t, r in zip(threads, roots, strict=True)
            ]
            s.add_all(origins)
            s.add_all(
                RelayParticipant(
                    relay_thread_id=t.id,
                    community_id=forge,
                    link_id=link_id,
                    platform="console",
                    space="local",
                    channel="hall",
                )
                for t in threads
            )
            await s.flush()
            s.add_all(
                RelayMessage(
                    relay_thread_id=o.relay_thread_id,
                    participant_id=o.id,
                    message_id=str(r.id),
                    is_root=True,
                    author_name="alice",
                    digest=digest(r.text, None),
                    payload={"author": "alice", "text": r.text},
                    created_at=at,
                )
                for o, r in zip(origins, roots, strict=True)
            )
    finally:
        await database.dispose()


async def restarts(directory: Path, history: int, runs: int) -> list[float]:
    config = make_config(directory)
    out = Printed()
    await link(config, out)
    if history:
        at = datetime.now(UTC) - timedelta(days=1)  # inside catch_up_days
        await seed(config, await asyncio.to_thread(append_roots, directory, history, at), at)
    figures = []
    for n in range(runs):
        text = f"First after restart {n} ({history} threads)"
        figures.append(await session(config, [text], out, f"via hearth: {text}"))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--history", type=int, default=1000, help="relayed threads (1000)")
    parser.add_argument("--runs", type=int, default=3, help="restarts measured per side (3)")
    parser.add_argument("--request-ms", type=float, default=25.0, help="per read request (25)")
    args = parser.parse_args()
    SlowReads.request_seconds = args.request_ms / 1000
    logging.disable(logging.CRITICAL)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    code = os.environ.get("HEARTH_CODE") or str(HERE.parent)
    with tempfile.TemporaryDirectory(prefix="hearth-restart-") as tmp:
        for side in ("floor", "history"):
            (Path(tmp) / side).mkdir()
        floor = asyncio.run(restarts(Path(tmp) / "floor", 0, args.runs))
        figure = asyncio.run(restarts(Path(tmp) / "history", args.history, args.runs))
    f, h = statistics.median(floor), statistics.median(figure)
    print(f"code: {code}")
    for key, value in machine_info().items():
        print(f"{key}: {value}")
    print(f"read round trip: {args.request_ms:.0f} ms (two per thread read), {args.runs} restarts")
    print(f"first live relay after restart, {args.history} relayed threads: {h:8.3f} s (median)")
    print(f"floor: the same restart with no history:           {f:8.3f} s (median)")
    print(f"ratio: {h / f:.1f}x the floor")
    print(
        "each run:",
        ", ".join(f"{x:.3f}" for x in figure),
        "| floor:",
        ", ".join(f"{x:.3f}" for x in floor),
    )


if __name__ == "__main__":
    main()
