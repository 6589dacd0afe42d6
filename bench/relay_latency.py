"""Matrix → Matrix relay latency: a reply in a relayed thread to its copy in the sibling room.

Two communities on one Synapse, each bound to its own room, linked through the real
commands (`!constellation invite for:beta` in room A by A's steward, `!constellation accept <code>`
in room B by B's steward); a thread in room A is relayed with `!relay` sent inside it.
Then, one at a time, Ann posts a threaded reply in room A and the clock stops when Bob,
who is only in room B, sees Hearth's copy arrive through his own long-polled `/sync`.

Why the floor beside it: most of that latency is Matrix itself (an event is persisted,
then wakes the `/sync` of everyone in the room). Ann's plain message in room B, seen by
the same Bob sync, is that floor. A relay needs two such deliveries (Ann's reply reaching
Hearth's sync, the copy reaching Bob's), so "2 x floor" is what a relay that did no work
at all would show; the rest is Hearth (InboundLog, the relay decision and its outbox
rows, the worker's wake-up and claim, rendering the attributed copy, its send).

    .venv/bin/python bench/relay_latency.py          # N=50 of each, well under a minute
    .venv/bin/python bench/relay_latency.py --n 200  # `--warmup` (default 3) untimed

The Synapse is the test suite's (`tests/fakes/synapse_server.py`: data on tmpfs, rate limits
raised) on a free port of 127.0.0.1, started and stopped by this script. Hearth runs as
`Hearth.run` runs it (adapter connected, relays attached, outbox worker in the
background, then the adapter's sync loop) with its real `MatrixAdapter` on a fresh SQLite
file. The users' side is raw HTTP (aiohttp) in the same event loop. Floor and relay
alternate so both see the same server state; the first `--warmup` of each are dropped.

Where the time goes, per relayed message (medians), from hooks the script sets on the
running objects (no code of Hearth's is changed): the adapter's `on_received`, the end of
`Relays.message_posted` (queued), and the worker's call of the adapter's `post`.
Every copy is counted in Bob's sync and again in room B's history at the end: each
message must arrive exactly once, inside the relayed thread.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import greenlet
import structlog
from sqlalchemy import event as sql_event

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from matrix_roundtrip import Watcher as RoundtripWatcher
from matrix_roundtrip import matrix_adapter
from measure import machine_info, peak_rss_mib, percentile

from adapters.matrix import MatrixAdapter
from adapters.matrix.content import RELAY_FIELD
from bot.app import Hearth
from bot.config import Config
from bot.events import ChannelRef, MessagePosted
from bot.port import OutboundMessage
from knowledge import sqlite_cursor, sqlite_thread
from tests.fakes.synapse_server import (
    SERVER_NAME,
    MatrixUser,
    SynapseServer,
    SynapseStartError,
    in_thread,
    running_synapse,
)
from tests.harness.config_builder import Channel, Community, build_config

WAIT = 30.0
MARKER = re.compile(r"\bbench[0-9a-f]{12}\b")
CODE = re.compile(r"constellation accept (HL-[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4})")


def marker() -> str:
    """A word unique to one message, found again in its copy's body."""
    return f"bench{uuid.uuid4().hex[:12]}"


class Watcher(RoundtripWatcher):
    """One user's long-poll `/sync` loop noting when each event arrives.

    Why keys rather than futures alone: an event can come through sync before the PUT
    that sent it has returned its id, so arrivals are remembered and looked up later.
    A message is keyed by its event id, a bot reply by `reply:<event it answers>`, a
    relayed copy by `copy:<marker>`; every copy's event id is kept per marker, so a
    duplicate shows up as a second id.
    """

    def __init__(
        self, session: aiohttp.ClientSession, server: SynapseServer, user: MatrixUser, bot: str
    ):
        super().__init__(session, server, user)
        self._bot = bot
        self.copies: dict[str, set[str]] = {}  # marker -> event ids of its copies
        self.copy_thread: dict[str, str | None] = {}  # copy event id -> its thread root

    def _event(self, event: dict[str, Any], now: float) -> None:
        event_id = str(event["event_id"])
        self._note(event_id, now)
        content = event.get("content") or {}
        relates = content.get("m.relates_to") or {}
        if event.get("sender") != self._bot or event.get("type") != "m.room.message":
            return
        replied = (relates.get("m.in_reply_to") or {}).get("event_id")
        if replied and content.get("msgtype") == "m.notice":
            self.replies[str(replied)] = str(content.get("body"))
            self._note(f"reply:{replied}", now)
        if RELAY_FIELD in content and relates.get("rel_type") != "m.replace":
            for found in set(MARKER.findall(str(content.get("body", "")))):
                self.copies.setdefault(found, set()).add(event_id)
                root = relates.get("event_id") if relates.get("rel_type") == "m.thread" else None
                self.copy_thread[event_id] = root
                self._note(f"copy:{found}", now)

    def arrived(self, key: str) -> float:
        """When `key` came (it must have come already)."""
        return self._arrived[key]


async def send(
    session: aiohttp.ClientSession,
    server: SynapseServer,
    who: MatrixUser,
    room: str,
    text: str,
    **extra: Any,
) -> tuple[float, float, str]:
    """Post a message as `who`: (clock before the request, when it was answered, event id)."""
    path = f"/_matrix/client/v3/rooms/{quote(room)}/send/m.room.message/{uuid.uuid4().hex}"
    started = time.perf_counter()
    async with session.put(
        server.url + path,
        json={"msgtype": "m.text", "body": text, **extra},
        headers={"Authorization": f"Bearer {who.access_token}"},
    ) as response:
        response.raise_for_status()
        event_id = str((await response.json())["event_id"])
    return started, time.perf_counter(), event_id


def matrix_pair(rooms: tuple[str, str], stewards: tuple[str, str]) -> tuple[Community, ...]:
    """Alpha and Beta, one Matrix room each, stewarded by the rooms' creators."""
    return tuple(
        Community(slug, slug.title(), (Channel("matrix", SERVER_NAME, room),), (f"matrix:{who}",))
        for slug, room, who in zip(("alpha", "beta"), rooms, stewards, strict=True)
    )


def hearth_config(
    database_url: str, exports: Path, rooms: tuple[str, str], stewards: tuple[str, str]
) -> Config:
    return build_config(
        database_url, exports.parent, *matrix_pair(rooms, stewards), console_user=None
    )


class Stages:
    """Per relayed message: when Hearth's sync received it, queued it, and sent its copy."""

    def __init__(self) -> None:
        self.received: dict[str, float] = {}  # source event id ->
        self.relaying: dict[str, float] = {}  # source event id -> Relays.message_posted began
        self.queued: dict[str, float] = {}  # source event id -> Relays.message_posted ended
        self.post_started: dict[str, float] = {}  # marker -> the worker called post
        self.post_ended: dict[str, float] = {}  # marker -> the copy's PUT answered

    def hook(self, hearth: Hearth, adapter: MatrixAdapter) -> None:
        def received(event_id: str) -> None:
            self.received.setdefault(event_id, time.perf_counter())

        adapter.on_received = received
        relays = hearth.services.relays
        posted = relays.message_posted

        async def message_posted(event: MessagePosted) -> None:
            self.relaying.setdefault(event.message.ref.message_id, time.perf_counter())
            await posted(event)
            self.queued.setdefault(event.message.ref.message_id, time.perf_counter())

        relays.message_posted = message_posted  # type: ignore[method-assign]
        post: Callable[..., Awaitable[Any]] = adapter.post

        async def timed_post(channel: ChannelRef, message: OutboundMessage, **kw: Any) -> Any:
            if message.attribution is None:
                return await post(channel, message, **kw)
            found = MARKER.search(message.text)
            started = time.perf_counter()
            result = await post(channel, message, **kw)
            if found:
                self.post_started.setdefault(found.group(), started)
                self.post_ended.setdefault(found.group(), time.perf_counter())
            return result

        adapter.post = timed_post  # type: ignore[method-assign]


async def start_hearth(
    server: SynapseServer, hearth: Hearth, bot: MatrixUser, rooms: tuple[str, ...], stages: Stages
) -> tuple[MatrixAdapter, asyncio.Task[None]]:
    """`Hearth.run` with the real Matrix adapter, returned once it has joined `rooms`."""
    adapter, synced = matrix_adapter(server, hearth, bot)
    stages.hook(hearth, adapter)
    running = asyncio.create_task(hearth.run([adapter]), name="hearth")
    async with asyncio.timeout(WAIT):
        while any(room not in adapter.client.rooms for room in rooms):
            synced.clear()
            await asyncio.wait(
                [asyncio.ensure_future(synced.wait()), running],
                return_when=asyncio.FIRST_COMPLETED,
            )
            if running.done():
                running.result()
                raise RuntimeError("Hearth stopped before joining the rooms")
    return adapter, running


def create_room(server: SynapseServer, owner: MatrixUser, name: str, invite: list[str]) -> str:
    return str(
        server.request(
            "POST",
            "/_matrix/client/v3/createRoom",
            {"preset": "private_chat", "name": name, "invite": invite},
            owner.access_token,
        )["room_id"]
    )


def history_markers(
    server: SynapseServer, room: str, reader: MatrixUser, bot: str, only: str | None = None
) -> list[str]:
    """The markers of every copy `bot` posted in the room's history (one entry per copy);
    with `only`, just the copies whose content carries that field."""
    found: list[str] = []
    start: str | None = None
    while True:
        path = f"/_matrix/client/v3/rooms/{quote(room)}/messages?dir=b&limit=500"
        if start:
            path += f"&from={quote(start)}"
        page = server.request("GET", path, None, reader.access_token)
        for event in page.get("chunk", []):
            content = event.get("content") or {}
            relates = content.get("m.relates_to") or {}
            if (
                event.get("sender") == bot
                and (only is None or only in content)
                and relates.get("rel_type") != "m.replace"
            ):
                found.extend(set(MARKER.findall(str(content.get("body", "")))))
        if not page.get("chunk") or not page.get("end") or page.get("end") == start:
            return found
        start = page["end"]


class Statements:
    """Every SQL statement SQLite runs for Hearth while on, by its first words (sqlite3's
    trace callback, so raw statements on the connection's thread count too), the trips to
    the connection's thread, and the line of Hearth's code behind each SQLAlchemy
    statement or raw trip."""

    def __init__(self, hearth: Hearth) -> None:
        self.on = False
        self.kinds: Counter[str] = Counter()
        self.callers: Counter[str] = Counter()
        self.trips = 0
        root = str(Path(__file__).resolve().parent.parent)

        def traced(statement: str) -> None:  # on the connection's thread
            if not self.on or statement.startswith("--"):  # a trigger's own statements
                return
            words = statement.split()
            kind = " ".join(words[:2]) if words[:1] == ["BEGIN"] else words[0]
            if kind in ("INSERT", "UPDATE"):
                kind += " " + words[2 if kind == "INSERT" else 1]
            self.kinds[kind] += 1

        real_trip = sqlite_cursor._noting_transaction

        def trip(driver: Any, work: Any, *args: Any) -> Any:  # every hop goes through it
            driver._conn.set_trace_callback(traced)
            if self.on:
                self.trips += 1
            return real_trip(driver, work, *args)

        setattr(sqlite_cursor, "_noting_transaction", trip)  # noqa: B010 - a bench-only wrap
        real_raw = sqlite_cursor.run_on_thread  # what sqlite_thread calls

        async def raw(driver: Any, work: Any, *args: Any) -> Any:  # hops not via SQLAlchemy
            if self.on:
                frame: Any = sys._getframe(1)
                while frame is not None:
                    name = frame.f_code.co_filename
                    if name.startswith(root) and "sqlite_thread.py" not in name:
                        where = f"{name[len(root) + 1 :]}:{frame.f_lineno} {frame.f_code.co_name}"
                        self.callers[f"{where} (raw, one trip)"] += 1
                        break
                    frame = frame.f_back
            return await real_raw(driver, work, *args)

        setattr(sqlite_thread, "run_on_thread", raw)  # noqa: B010 - a bench-only wrap

        def executed(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            if not self.on:
                return
            # SQLAlchemy's async layer runs this in a greenlet: Hearth's frames are in the
            # parent greenlet, stopped where it switched to this one
            parent = greenlet.getcurrent().parent
            frame = parent.gr_frame if parent is not None else None
            while frame is not None:
                name = frame.f_code.co_filename
                if (
                    name.startswith(root)
                    and "/bench/" not in name
                    and "knowledge/db.py" not in name
                    and "knowledge/sqlite_thread.py" not in name
                ):
                    where = f"{name[len(root) + 1 :]}:{frame.f_lineno} {frame.f_code.co_name}"
                    self.callers[where] += 1
                    break
                frame = frame.f_back

        sql_event.listen(hearth.database.engine.sync_engine, "before_cursor_execute", executed)


async def run(
    server: SynapseServer, count: int, warmup: int, workdir: Path, statements: bool = False
) -> dict[str, Any]:
    bot, ann, bob = server.register("hearth"), server.register("ann"), server.register("bob")
    room_a = create_room(server, ann, "alpha", [bot.user_id])
    room_b = create_room(server, bob, "beta", [bot.user_id, ann.user_id])
    server.request("POST", f"/_matrix/client/v3/join/{quote(room_b)}", {}, ann.access_token)

    config = hearth_config(
        f"sqlite:///{workdir / 'hearth.db'}",
        workdir / "exports",
        (room_a, room_b),
        (ann.user_id, bob.user_id),
    )
    hearth = await Hearth.open(config)  # relay_in_background=True: the worker runs by itself
    stages = Stages()
    counted = Statements(hearth) if statements else None
    _, running = await start_hearth(server, hearth, bot, (room_a, room_b), stages)
    results: dict[str, Any] = {}
    async with aiohttp.ClientSession() as session:
        ann_sees = Watcher(session, server, ann, bot.user_id)
        bob_sees = Watcher(session, server, bob, bot.user_id)
        watching = [
            asyncio.create_task(ann_sees.run(), name="ann-sync"),
            asyncio.create_task(bob_sees.run(), name="bob-sync"),
        ]
        try:
            await asyncio.wait_for(ann_sees.ready.wait(), WAIT)
            await asyncio.wait_for(bob_sees.ready.wait(), WAIT)

            # link the two communities through the real commands
            await send(session, server, ann, room_a, "!constellation invite for:beta")
            await ann_sees.arrival("private:1")  # the code comes by DM
            code = CODE.search(ann_sees.private[0])
            if code is None:
                raise RuntimeError(f"no invitation code in: {ann_sees.private[0]!r}")
            _, _, accept = await send(
                session, server, bob, room_b, f"!constellation accept {code.group(1)}"
            )
            await bob_sees.arrival(f"reply:{accept}")
            if "Linked with" not in bob_sees.replies[accept]:
                raise RuntimeError(f"accept failed: {bob_sees.replies[accept]!r}")

            # a thread in room A, relayed with !relay sent inside it
            root_marker = marker()
            _, _, root = await send(
                session, server, ann, room_a, f"How do we keep reviews fast? {root_marker}"
            )
            _, _, relay = await send(session, server, ann, room_a, "!relay", **in_thread(root))
            await ann_sees.arrival(f"reply:{relay}")
            if "Relaying this thread" not in ann_sees.replies[relay]:
                raise RuntimeError(f"!relay failed: {ann_sees.replies[relay]!r}")
            await bob_sees.arrival(f"copy:{root_marker}")
            (root_copy,) = bob_sees.copies[root_marker]
            watching[0].cancel()  # only Bob's sync runs while timing

            floor: list[float] = []
            relayed: list[float] = []
            floor_puts: list[tuple[float, float, str]] = []
            timed: list[tuple[str, str, float, float]] = []  # (event id, marker, started, answered)
            for n in range(warmup + count):
                if counted is not None and n == warmup:
                    counted.on = True
                started, answered, event_id = await send(session, server, ann, room_b, f"plain {n}")
                floor_s = await bob_sees.arrival(event_id) - started
                floor_put = (started, answered, event_id)
                word = marker()
                started, answered, event_id = await send(
                    session,
                    server,
                    ann,
                    room_a,
                    f"Reply {n} in the thread {word}",
                    **in_thread(root),
                )
                relay_s = await bob_sees.arrival(f"copy:{word}") - started
                if n >= warmup:
                    floor.append(floor_s)
                    relayed.append(relay_s)
                    floor_puts.append(floor_put)
                    timed.append((event_id, word, started, answered))

            if counted is not None:
                counted.on = False
                results["statements"] = counted
            # settle: nothing left in the outbox, then count copies in room B's history
            relays = hearth.services.relays
            alpha = await hearth.services.directory.community_by_slug("alpha")
            assert alpha is not None
            link_ids = [link.id for link in await relays.links.links_of(alpha.id)]
            async with asyncio.timeout(WAIT):
                while True:
                    lanes = await relays.outbox.health(link_ids)
                    if not any(lane.pending for lane in lanes):
                        break
                    await asyncio.sleep(0.1)
            await asyncio.sleep(1.0)  # a late duplicate would have reached Bob's sync by now
            history = await asyncio.to_thread(
                history_markers, server, room_b, bob, bot.user_id, RELAY_FIELD
            )
        finally:
            for task in watching:
                task.cancel()
            await asyncio.gather(*watching, return_exceptions=True)
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
            await hearth.close()

    words = [word for _, word, _, _ in timed]
    results["floor"], results["relay"] = floor, relayed
    results["outbox"] = {
        "delivered": sum(lane.delivered for lane in lanes),
        "pending": sum(lane.pending for lane in lanes),
        "parked": sum(lane.parked for lane in lanes),
        "failed": sum(lane.failed for lane in lanes),
    }
    results["once_sync"] = sum(len(bob_sees.copies.get(w, ())) == 1 for w in words)
    results["dupes_sync"] = sum(max(0, len(ids) - 1) for ids in bob_sees.copies.values())
    results["once_history"] = sum(history.count(w) == 1 for w in words)
    results["dupes_history"] = len(history) - len(set(history))
    results["in_thread"] = sum(
        all(bob_sees.copy_thread.get(i) == root_copy for i in bob_sees.copies.get(w, ()))
        for w in words
    )
    results["floor_stages"] = {
        "Ann's PUT (user -> Synapse)": [answered - started for started, answered, _ in floor_puts],
        "PUT answered -> Bob's sync": [
            bob_sees.arrived(e) - answered for _, answered, e in floor_puts
        ],
    }
    received, queued = stages.received, stages.queued
    results["stages"] = {
        "A: Ann's PUT in room A": [answered - s for _, _, s, answered in timed],
        "   PUT answered -> Hearth's sync": [received[e] - a for e, _, _, a in timed],
        "B: sync -> Relays.message_posted": [
            stages.relaying[e] - received[e] for e, _, _, _ in timed
        ],
        "   Relays.message_posted (queued)": [
            queued[e] - stages.relaying[e] for e, _, _, _ in timed
        ],
        "C: queued -> worker calls post": [
            stages.post_started[w] - queued[e] for e, w, _, _ in timed
        ],
        "D: the copy's PUT (Hearth -> Synapse)": [
            stages.post_ended[w] - stages.post_started[w] for _, w, _, _ in timed
        ],
        "E: PUT answered -> Bob's sync": [
            bob_sees.arrived(f"copy:{w}") - stages.post_ended[w] for _, w, _, _ in timed
        ],
    }
    return results


def report(results: dict[str, Any], count: int, warmup: int) -> None:
    info = machine_info(
        **{
            "matrix-synapse": metadata.version("matrix-synapse"),
            "matrix-nio": metadata.version("matrix-nio"),
            "peak RSS (bench + Hearth, not Synapse)": f"{peak_rss_mib():.0f} MiB",
            "load average (1/5/15 min) at the end": " / ".join(f"{v:.2f}" for v in os.getloadavg()),
        }
    )
    for key, value in info.items():
        print(f"{key}: {value}")
    print(f"N={count} of each (+{warmup} warm-up), one at a time, alternating")
    print()
    floor, relay = results["floor"], results["relay"]
    header = f"{'':38}{'median':>9}{'p95':>9}{'p99':>9}{'min':>9}{'max':>9}"
    print(header)

    def row(label: str, ms: list[float]) -> None:
        cells = (percentile(ms, p) for p in (50, 95, 99, 0, 100))
        print(f"{label:38}" + "".join(f"{v:>7.1f}ms" for v in cells))

    floor_ms = [s * 1000 for s in floor]
    relay_ms = [s * 1000 for s in relay]
    row("floor: Ann's message -> Bob's sync", floor_ms)
    row("2 x floor", [2 * v for v in floor_ms])
    row("relay: Ann's reply in A -> copy in B", relay_ms)
    print()
    median_floor, median_relay = statistics.median(floor_ms), statistics.median(relay_ms)
    print(
        f"relay / floor: {median_relay / median_floor:.2f}x median, "
        f"{percentile(relay_ms, 95) / percentile(floor_ms, 95):.2f}x p95"
    )
    print(
        f"Hearth's share (median relay - 2 x median floor): {median_relay - 2 * median_floor:.1f} ms"
    )
    print()
    print("where the time goes (the same timed messages, split by hooks):")
    print(header)
    for label, samples in results["floor_stages"].items():
        row("floor: " + label, [s * 1000 for s in samples])
    for label, samples in results["stages"].items():
        row(label, [s * 1000 for s in samples])
    print()
    print(
        f"copies that arrived exactly once: {results['once_sync']}/{count} in Bob's sync, "
        f"{results['once_history']}/{count} in room B's history; duplicates: "
        f"{results['dupes_sync']} in sync, {results['dupes_history']} in history"
    )
    print(f"copies inside the relayed thread in room B: {results['in_thread']}/{count}")
    counted = results.get("statements")
    if counted is not None:
        total = sum(counted.kinds.values())
        print()
        print(
            f"SQL per relayed message (its floor message in room B included, which Hearth "
            f"also receives): {total / count:.1f} statements"
        )
        for kind, n in counted.kinds.most_common():
            print(f"  {n / count:6.2f}  {kind}")
        print(f"trips to SQLite's thread per relayed message: {counted.trips / count:.1f}")
        print("by the line of Hearth's code that issued them (SQLAlchemy statements; raw trips):")
        for where, n in counted.callers.most_common(25):
            print(f"  {n / count:6.2f}  {where}")
    outbox = results["outbox"]
    print(
        "outbox at the end: "
        + ", ".join(f"{value} {name}" for name, value in outbox.items())
        + " (incl. the root and warm-up)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--n", type=int, default=50, help="timed messages of each kind")
    parser.add_argument("--warmup", type=int, default=3, help="untimed messages of each first")
    parser.add_argument(
        "--statements", action="store_true", help="count SQL statements per relayed message"
    )
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    logging.basicConfig(level=logging.ERROR)
    try:
        with running_synapse() as server, tempfile.TemporaryDirectory() as workdir:
            results = asyncio.run(run(server, args.n, args.warmup, Path(workdir), args.statements))
    except SynapseStartError as exc:
        sys.exit(f"Synapse did not start: {exc}")
    report(results, args.n, args.warmup)


if __name__ == "__main__":
    main()
