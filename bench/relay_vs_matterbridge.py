"""Hearth beside Matterbridge: Matrix → Matrix relays on one local Synapse, interleaved.

What it measures, one message in flight at a time, for each bridge running as its own OS
process (so its CPU time and memory are its own):
- added latency: Ann's message in room A until Bob's `/sync` sees the bridge's copy in
  room B, minus two floors (the floor is Ann → Bob directly, in a room no bridge is in,
  timed in the same loop: a relay is two such deliveries plus the bridge's own work);
- CPU seconds per 100 relayed (utime + stime of the bridge's process over the timed
  phase, read from /proc, idle time included as the bridges idle alike);
- RSS: idle (linked, before the timed phase), after it, and the process's peak.

Hearth runs as `python -m bot run --config ...` (the packaged default: semantic search
model loaded, SQLite file on tmpfs like Synapse's) with its Matrix adapter; the two
communities are linked through the real commands (`!constellation invite for:beta
mode:channel`, `!constellation accept <code>`), so every top-level message in room A is
relayed ("whole channel") and so is every reply in such a thread ("thread"). Matterbridge
relays a whole channel only, so its figures stand beside Hearth's whole-channel ones.

    .venv/bin/python bench/relay_vs_matterbridge.py --n 50
    .venv/bin/python bench/relay_vs_matterbridge.py --n 50 --matterbridge /path/to/matterbridge

This script builds nothing. Matterbridge (github 42wim/matterbridge, modules vendored,
Go ≥ 1.22) builds Matrix-only with:

    go build -mod=vendor -tags "noapi nodiscord noharmony noirc nokeybase nomattermost \\
      nomsteams nomumble nonctalk norocketchat noslack nosshchat nosteam notelegram novk \\
      nowhatsapp nowhatsappmulti noxmpp nozulip" -o matterbridge .

(`vendor/modernc.org/sqlite/lib` is needed by whatsappmulti only and may be left out.)
Without `--matterbridge` Hearth runs alone beside the floor. Every copy is counted in
Bob's sync and again in room B's history at the end: each must arrive exactly once.
`--profile FILE` runs Hearth under cProfile, keeping the timed phase only (its `.prof` is
written at a clean stop;
figures are then not comparable).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import structlog

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from matrix_roundtrip import Watcher as RoundtripWatcher
from measure import machine_info, percentile
from relay_latency import (
    CODE,
    MARKER,
    create_room,
    history_markers,
    in_thread,
    marker,
    matrix_pair,
    send,
)

from tests.fakes.synapse_server import (
    MatrixUser,
    SynapseServer,
    SynapseStartError,
    running_synapse,
)
from tests.harness.config_builder import write_config

ROOT = Path(__file__).resolve().parent.parent
WAIT = 60.0
TICKS = os.sysconf("SC_CLK_TCK")
PROFILED = """
import atexit, cProfile, signal, sys
out = sys.argv.pop(1)
profile = cProfile.Profile()
atexit.register(lambda: profile.dump_stats(out))
signal.signal(signal.SIGUSR1, lambda *_: profile.clear())  # the timed phase starts
profile.enable()
from bot.cli import main
main()
"""  # `hearth run` under cProfile, dumped at exit (SIGTERM stops Hearth cleanly); only
# the timed phase is kept (SIGUSR1 clears what start-up, linking and warm-up recorded)


class Watcher(RoundtripWatcher):
    """Bob's (or Ann's) sync: every copy a bridge bot posts, keyed `copy:<marker>`."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        server: SynapseServer,
        user: MatrixUser,
        bots: set[str],
    ):
        super().__init__(session, server, user)
        self._bots = bots
        self.copies: dict[str, set[str]] = {}  # marker -> event ids of its copies
        self.copy_thread: dict[str, str | None] = {}  # copy event id -> its thread root

    def _event(self, event: dict[str, Any], now: float) -> None:
        super()._event(event, now)
        content = event.get("content") or {}
        relates = content.get("m.relates_to") or {}
        if event.get("sender") not in self._bots or event.get("type") != "m.room.message":
            return
        if relates.get("rel_type") == "m.replace":
            return
        event_id = str(event["event_id"])
        for found in set(MARKER.findall(str(content.get("body", "")))):
            self.copies.setdefault(found, set()).add(event_id)
            root = relates.get("event_id") if relates.get("rel_type") == "m.thread" else None
            self.copy_thread[event_id] = root
            self._note(f"copy:{found}", now)


@dataclass
class Process:
    """A bridge as an OS process: its CPU time and memory from /proc."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime

    def memory_mib(self) -> tuple[float, float]:
        """(VmRSS, VmHWM) in MiB."""
        found = {}
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(value.split()[0]) / 1024
        return found["VmRSS"], found["VmHWM"]

    def alive(self) -> None:
        if self.proc.poll() is not None:
            tail = self.log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{self.name} exited ({self.proc.returncode}):\n{tail}")


@contextlib.contextmanager
def spawned(name: str, argv: list[str], cwd: Path, env: dict[str, str]) -> Iterator[Process]:
    log = cwd / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    process = Process(name, proc, log)
    try:
        yield process
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def hearth_config(
    workdir: Path,
    server: SynapseServer,
    bot: MatrixUser,
    rooms: tuple[str, str],
    stewards: tuple[str, str],
) -> Path:
    matrix = f"""
[adapters.console]
enabled = false

[adapters.matrix]
enabled = true
homeserver = "{server.url}"
user_id = "{bot.user_id}"
access_token = "${{HEARTH_BENCH_MATRIX_TOKEN}}"
device_id = "{bot.device_id}"
encryption = false
"""
    return write_config(
        workdir / "hearth.toml",
        f"sqlite:///{workdir / 'hearth.db'}",
        *matrix_pair(rooms, stewards),
        console_user=None,
        extra=matrix,
    )


def matterbridge_config(
    workdir: Path, server: SynapseServer, bot: MatrixUser, rooms: tuple[str, str]
) -> Path:
    inouts = "".join(
        f"""
[[gateway.inout]]
account = "matrix.bench"
channel = "{room}"
"""
        for room in rooms
    )
    path = workdir / "matterbridge.toml"
    path.write_text(
        f"""
[matrix.bench]
Server = "{server.url}"
MxID = "{bot.user_id}"
Token = "{bot.access_token}"
RemoteNickFormat = "[{{PROTOCOL}}] <{{NICK}}> "

[[gateway]]
name = "bench"
enable = true
{inouts}""",
        encoding="utf-8",
    )
    return path


def joined(server: SynapseServer, room: str, who: MatrixUser) -> set[str]:
    path = f"/_matrix/client/v3/rooms/{quote(room)}/joined_members"
    return set(server.request("GET", path, None, who.access_token).get("joined", {}))


async def until_joined(
    server: SynapseServer, rooms: list[tuple[str, MatrixUser]], bot: str, process: Process
) -> None:
    """Poll room membership (the bridge is another process; it says nothing else)."""
    async with asyncio.timeout(WAIT):
        for room, reader in rooms:
            while bot not in await asyncio.to_thread(joined, server, room, reader):
                process.alive()
                await asyncio.sleep(0.2)


@dataclass
class Side:
    """One bridge's measurements."""

    name: str
    process: Process
    rooms: tuple[str, str]
    bot: str
    relay: dict[str, list[float]] = field(default_factory=dict)  # mode -> seconds
    words: list[str] = field(default_factory=list)
    cpu: float = 0.0
    relayed: int = 0
    idle_rss: float = 0.0
    end_rss: float = 0.0
    peak_rss: float = 0.0
    once_sync: int = 0
    once_history: int = 0
    dupes: int = 0


async def link_hearth(
    session: aiohttp.ClientSession,
    server: SynapseServer,
    ann: MatrixUser,
    bob: MatrixUser,
    ann_sees: Watcher,
    bob_sees: Watcher,
    rooms: tuple[str, str],
) -> None:
    await send(session, server, ann, rooms[0], "!constellation invite for:beta mode:channel")
    await ann_sees.arrival(f"private:{len(ann_sees.private) + 1}")  # the code comes by DM
    code = CODE.search(ann_sees.private[-1])
    if code is None:
        raise RuntimeError(f"no invitation code in: {ann_sees.private[-1]!r}")
    _, _, accept = await send(session, server, bob, rooms[1], f"!constellation accept {code[1]}")
    await bob_sees.arrival(f"reply:{accept}")
    if "Linked with" not in bob_sees.replies[accept]:
        raise RuntimeError(f"accept failed: {bob_sees.replies[accept]!r}")


async def run(server: SynapseServer, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    ann, bob = server.register("ann"), server.register("bob")
    for user in (ann, bob):
        server.override_ratelimit(user.user_id, 10000, 10000)
    floor_room = create_room(server, ann, "floor", [bob.user_id])
    server.request("POST", f"/_matrix/client/v3/join/{quote(floor_room)}", {}, bob.access_token)

    hearths = [("Hearth", ROOT)]
    if args.baseline:
        hearths.append(("Hearth baseline", Path(args.baseline)))
    bots: set[str] = set()
    with contextlib.ExitStack() as stack:
        sides: list[Side] = []
        for index, (name, code) in enumerate(hearths):
            bot = server.register("hearth")
            bots.add(bot.user_id)
            rooms = (
                create_room(server, ann, f"alpha{index}", [bot.user_id]),
                create_room(server, bob, f"beta{index}", [bot.user_id]),
            )
            home = workdir / f"hearth{index}"
            home.mkdir()
            env = {**os.environ, "HEARTH_BENCH_MATRIX_TOKEN": bot.access_token}
            env["PYTHONPATH"] = str(code)
            env.pop("HEARTH_CONFIG", None)
            config = hearth_config(home, server, bot, rooms, (ann.user_id, bob.user_id))
            argv = [sys.executable, "-m", "bot", "run", "--config", str(config)]
            if args.profile and index == 0:
                argv[1:3] = ["-c", PROFILED, args.profile]
            process = stack.enter_context(spawned("hearth", argv, home, env))
            sides.append(Side(name, process, rooms, bot.user_id))
        if args.matterbridge:
            mb_bot = server.register("matterbridge")
            bots.add(mb_bot.user_id)
            m_rooms = (
                create_room(server, ann, "mb-alpha", [mb_bot.user_id]),
                create_room(server, bob, "mb-beta", [mb_bot.user_id]),
            )
            config = matterbridge_config(workdir, server, mb_bot, m_rooms)
            mb = stack.enter_context(
                spawned(
                    "matterbridge",
                    [args.matterbridge, "-conf", str(config)],
                    workdir,
                    dict(os.environ),
                )
            )
            sides.append(Side("Matterbridge", mb, m_rooms, mb_bot.user_id))
        for side in sides:
            await until_joined(
                server, [(side.rooms[0], ann), (side.rooms[1], bob)], side.bot, side.process
            )
        return await timed(server, args, ann, bob, bots, floor_room, sides)


async def timed(
    server: SynapseServer,
    args: argparse.Namespace,
    ann: MatrixUser,
    bob: MatrixUser,
    bots: set[str],
    floor_room: str,
    sides: list[Side],
) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session:
        ann_sees = Watcher(session, server, ann, bots)
        bob_sees = Watcher(session, server, bob, bots)
        watching = [
            asyncio.create_task(ann_sees.run(), name="ann-sync"),
            asyncio.create_task(bob_sees.run(), name="bob-sync"),
        ]
        try:
            await asyncio.wait_for(ann_sees.ready.wait(), WAIT)
            await asyncio.wait_for(bob_sees.ready.wait(), WAIT)
            for side in sides:
                if side.name != "Matterbridge":
                    await link_hearth(session, server, ann, bob, ann_sees, bob_sees, side.rooms)
            # a first message through each bridge: proves it relays, and is the thread root
            roots: dict[str, str] = {}
            for side in sides:
                word = marker()
                _, _, roots[side.name] = await send(
                    session, server, ann, side.rooms[0], f"How do we keep reviews fast? {word}"
                )
                await bob_sees.arrival(f"copy:{word}")
            watching[0].cancel()  # only Bob's sync runs while timing
            modes = {side.name: ["whole channel", "thread"] for side in sides}
            modes["Matterbridge"] = ["whole channel"]
            floor: list[float] = []
            for side in sides:
                side.relay = {mode: [] for mode in modes[side.name]}
                side.idle_rss = side.process.memory_mib()[0]
            cpu_start: dict[str, float] = {}
            for n in range(args.warmup + args.n):
                if n == args.warmup:
                    cpu_start = {side.name: side.process.cpu_seconds() for side in sides}
                    if args.profile:
                        sides[0].process.proc.send_signal(signal.SIGUSR1)
                started, _, event_id = await send(session, server, ann, floor_room, f"plain {n}")
                floor_s = await bob_sees.arrival(event_id) - started
                if n >= args.warmup:
                    floor.append(floor_s)
                for side in sides:
                    for mode in side.relay:
                        word = marker()
                        extra = in_thread(roots[side.name]) if mode == "thread" else {}
                        started, _, _ = await send(
                            session, server, ann, side.rooms[0], f"Message {n} {word}", **extra
                        )
                        took = await bob_sees.arrival(f"copy:{word}") - started
                        if n >= args.warmup:
                            side.relay[mode].append(took)
                            side.words.append(word)
            for side in sides:
                side.cpu = side.process.cpu_seconds() - cpu_start[side.name]
                side.relayed = sum(len(v) for v in side.relay.values())
            await asyncio.sleep(1.0)  # a late duplicate would have reached Bob's sync by now
            for side in sides:
                side.process.alive()
                side.end_rss, side.peak_rss = side.process.memory_mib()
                history = await asyncio.to_thread(
                    history_markers, server, side.rooms[1], bob, side.bot
                )
                side.once_sync = sum(len(bob_sees.copies.get(w, ())) == 1 for w in side.words)
                side.once_history = sum(history.count(w) == 1 for w in side.words)
                side.dupes = len(history) - len(set(history))
        finally:
            for task in watching:
                task.cancel()
            await asyncio.gather(*watching, return_exceptions=True)
    return {"floor": floor, "sides": sides}


def report(results: dict[str, Any], args: argparse.Namespace) -> None:
    info = machine_info(
        **{
            "matrix-synapse": metadata.version("matrix-synapse"),
            "matrix-nio": metadata.version("matrix-nio"),
            "load average (1/5/15 min) at the end": " / ".join(f"{v:.2f}" for v in os.getloadavg()),
        }
    )
    for key, value in info.items():
        print(f"{key}: {value}")
    print(f"N={args.n} per mode (+{args.warmup} warm-up), one message in flight, interleaved")
    print()
    floor_ms = [s * 1000 for s in results["floor"]]
    floor50 = statistics.median(floor_ms)
    header = f"{'':44}{'p50':>9}{'p95':>9}{'p99':>9}"

    def cells(ms: list[float]) -> str:
        return "".join(f"{percentile(ms, p):>7.1f}ms" for p in (50, 95, 99))

    print(header)
    print(f"{'floor: Ann -> Bob, no bridge':44}" + cells(floor_ms))
    added: dict[str, list[float]] = {}
    for side in results["sides"]:
        for mode, samples in side.relay.items():
            ms = [s * 1000 for s in samples]
            print(f"{side.name + ', ' + mode + ': relay':44}" + cells(ms))
            added[f"{side.name}, {mode}"] = [v - 2 * floor50 for v in ms]
            print(f"{'   added (relay - 2 x floor p50)':44}" + cells(added[f"{side.name}, {mode}"]))
    print()
    for side in results["sides"]:
        per100 = side.cpu / side.relayed * 100 if side.relayed else float("nan")
        print(
            f"{side.name}: CPU {side.cpu:.2f} s for {side.relayed} relayed = {per100:.2f} s per 100; "
            f"RSS idle {side.idle_rss:.1f} MiB, after {side.end_rss:.1f} MiB, peak {side.peak_rss:.1f} MiB"
        )
        print(
            f"   copies exactly once: {side.once_sync}/{side.relayed} in Bob's sync, "
            f"{side.once_history}/{side.relayed} in room B's history; duplicates in history: {side.dupes}"
        )
    sides = {side.name: side for side in results["sides"]}
    pairs = [(a, b) for a in sides for b in ("Matterbridge", "Hearth baseline") if a != b]
    for ours, theirs in pairs:
        if ours not in sides or theirs not in sides or ours == "Matterbridge":
            continue
        a, b = sides[ours], sides[theirs]
        print()
        for mode in a.relay:
            other = mode if mode in b.relay else "whole channel"
            mine, base = added[f"{ours}, {mode}"], added[f"{theirs}, {other}"]
            print(
                f"ratio {ours} ({mode}) / {theirs} ({other}): added p50 "
                f"{statistics.median(mine) / statistics.median(base):.2f}x, "
                f"p95 {percentile(mine, 95) / percentile(base, 95):.2f}x"
            )
        print(
            f"ratio {ours} / {theirs}: CPU per relayed message "
            f"{(a.cpu / a.relayed) / (b.cpu / b.relayed):.2f}x; RSS idle "
            f"{a.idle_rss / b.idle_rss:.2f}x, peak {a.peak_rss / b.peak_rss:.2f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--n", type=int, default=50, help="timed messages per bridge and mode")
    parser.add_argument("--warmup", type=int, default=3, help="untimed rounds first")
    parser.add_argument("--matterbridge", help="a Matterbridge binary to run beside Hearth")
    parser.add_argument(
        "--baseline", help="another Hearth checkout (e.g. main) run beside this one, interleaved"
    )
    parser.add_argument("--profile", help="run Hearth under cProfile, writing this .prof file")
    args = parser.parse_args()
    if args.profile:
        args.profile = str(Path(args.profile).resolve())
    if args.baseline:
        args.baseline = str(Path(args.baseline).resolve())
        if not (Path(args.baseline) / "bot" / "__main__.py").is_file():
            sys.exit(f"--baseline {args.baseline}: not a Hearth checkout (no bot/__main__.py)")
    if args.matterbridge and not os.access(args.matterbridge, os.X_OK):
        sys.exit(f"--matterbridge {args.matterbridge}: not an executable file")
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    logging.basicConfig(level=logging.ERROR)
    try:
        with running_synapse() as server, tempfile.TemporaryDirectory(dir="/dev/shm") as workdir:
            results = asyncio.run(run(server, args, Path(workdir)))
    except SynapseStartError as exc:
        sys.exit(f"Synapse did not start: {exc}")
    report(results, args)


if __name__ == "__main__":
    main()
