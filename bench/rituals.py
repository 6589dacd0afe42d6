"""Ritual firing lateness and memory at scale: Hearth's Rituals service next to bare APScheduler.

Hearth gives every ritual its own APScheduler cron job (scheduling/timer.py); when one
fires, the engine reads the ritual from the store, claims the round with an INSERT, builds
the prompt (prompt rotation, previous rounds), posts it through the platform's outbound
port and records it, then re-arms the one deadline timer. This bench asks what that costs
when many rituals fall due together, and puts the answer next to bare APScheduler firing
the same cron jobs with a job that only notes the time, so the gap is what Hearth's own
work adds on top of the scheduler it is built on.

    .venv/bin/python bench/rituals.py --count 200     # smoke test, about 2-3 minutes
    .venv/bin/python bench/rituals.py                 # 10,000 rituals, about 5-10 minutes
    .venv/bin/python bench/rituals.py --profile /tmp/rituals.prof   # cProfile Hearth's run

How the runs are set up:

* Rituals are created through `RitualStore.create` in a fresh SQLite database (or an
  empty one named by `--database-url`), all in one community, kind `reflection`, a 24 h
  answer window (so no reminder or close falls inside the run), platform `bench`.
* Ritual schedules are 5-field cron lines, so a ritual can fire on a whole minute only:
  half of them fire at minute M and the other half at M+1 (second 0 of each). That is a
  burst of N/2 jobs due at the same instant, twice, which is the worst case for the
  scheduler; real communities spread over hours. The cron lines have three shapes in
  turn (daily `m h * * *`, weekly `m h * * <weekday>`, monthly `m h <day> * *`), all
  naming the same instant, in `--timezone` (default UTC).
* M is chosen so that creating the rituals and starting the service end before it; the
  time that takes is estimated from a small calibration run first. The report says if
  start-up still ran into the first slot (the lateness figures are then not valid).
* Hearth: the real `scheduling.service.Rituals` (RitualStore, InsightStore, Directory,
  SystemClock, `--grace-minutes` catch-up grace as in config) with a recording outbound
  port; `start()` builds the jobs from the store and catches up, as at Hearth's start.
  Lateness = the moment the port's `post()` is called for a ritual's prompt − its slot.
* Bare APScheduler: an `AsyncIOScheduler(timezone=UTC)` with the same number of
  `CronTrigger.from_crontab` jobs (same shapes and zone, the same job options as
  Hearth's timer: coalesce, max_instances=1, misfire grace), each an `async def` that
  notes `time.time()`. It runs after Hearth has finished, on the next free minutes.
  Lateness = the moment the job runs − its slot.
* Each measured run is a separate fresh (spawned) process that has imported the same
  modules, so the RSS figures (VmRSS from /proc/self/status and peak `ru_maxrss`) start
  from the same baseline and neither run inherits the other's garbage. The rituals are
  created by the parent process, outside Hearth's measured process.
* structlog events are counted and dropped (not rendered), so 10,000 `ritual.opened`
  lines do not flood the terminal; APScheduler's log records are counted likewise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import logging
import math
import multiprocessing
import os
import pstats
import sys
import time
from collections import Counter
from collections.abc import Callable, MutableMapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from measure import machine_info, peak_rss_mib, percentile, workspace

from bot.events import ChannelRef, ChatMessage, MessageRef
from bot.ops.metrics import Metrics
from bot.port import Capabilities, OutboundMessage
from knowledge.clock import SystemClock
from knowledge.db import Database, open_database
from knowledge.directory import Directory
from knowledge.insights import InsightStore
from knowledge.migrate import upgrade
from knowledge.models import Ritual, RitualRound
from knowledge.rituals import NewRitual, RitualStore
from knowledge.vocabulary import RitualKind
from scheduling.schedule import WEEKDAYS, cron_trigger
from scheduling.service import Rituals

console = Console()

DEFAULT_COUNT = 10_000
PLATFORM = "bench"
WINDOW_MINUTES = 24 * 60
CALIBRATION_COUNT = 200
T = TypeVar("T")


# --- what both runs fire ----------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """N cron lines and, for each, the one instant (epoch seconds) it fires next."""

    timezone: str
    crons: tuple[str, ...]
    slots: tuple[float, ...]

    @property
    def count(self) -> int:
        return len(self.crons)

    @property
    def first_slot(self) -> float:
        return min(self.slots)

    @property
    def last_slot(self) -> float:
        return max(self.slots)


def next_minute(moment: datetime) -> datetime:
    """The first whole minute strictly after `moment`."""
    return moment.replace(second=0, microsecond=0) + timedelta(minutes=1)


def make_plan(count: int, first_minute: datetime, timezone: str) -> Plan:
    """Half the jobs at `first_minute`, half a minute later, in three cron shapes."""
    zone = ZoneInfo(timezone)
    crons: list[str] = []
    slots: list[float] = []
    after = first_minute - timedelta(seconds=1)
    for i in range(count):
        slot = first_minute + timedelta(minutes=(2 * i) // count)
        local = slot.astimezone(zone)
        day, weekday = "*", "*"
        if i % 3 == 1:
            weekday = WEEKDAYS[local.weekday()]
        elif i % 3 == 2:
            day = str(local.day)
        cron = f"{local.minute} {local.hour} {day} * {weekday}"
        fires = cron_trigger(cron, zone).get_next_fire_time(None, after)
        if fires is None or fires.timestamp() != slot.timestamp():
            raise RuntimeError(f"cron {cron!r} fires at {fires}, not at {slot}")  # a bench bug
        crons.append(cron)
        slots.append(slot.timestamp())
    return Plan(timezone, tuple(crons), tuple(slots))


# --- measurement helpers ----------------------------------------------------------------


def vm_rss_mib() -> float:
    """Resident set size now (VmRSS), in MiB; NaN where /proc is missing."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return math.nan


class LogCounter(logging.Handler):
    """Counts stdlib log records (APScheduler's) by message template instead of printing."""

    def __init__(self, counts: Counter[str], errors: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.counts = counts
        self.errors = errors

    def emit(self, record: logging.LogRecord) -> None:
        self.counts[f"{record.levelname} {record.msg}"] += 1
        if record.exc_info and record.exc_info[1] is not None and len(self.errors) < 3:
            exc = record.exc_info[1]
            self.errors.append(f"{type(exc).__name__}: {exc}"[:300])


def quiet_logs(counts: Counter[str], errors: list[str]) -> None:
    """Count structlog events (INFO and up) and stdlib warnings (APScheduler's, SQLAlchemy's),
    print neither: Hearth's own set-up renders the former and filters the latter the same."""

    def count(_logger: Any, method: str, event: MutableMapping[str, Any]) -> Any:
        counts[f"{method} {event.get('event')}"] += 1
        raise structlog.DropEvent

    structlog.configure(
        processors=[count],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        cache_logger_on_first_use=True,
    )
    handler = LogCounter(counts, errors)
    for name in ("apscheduler", "sqlalchemy", "asyncio"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(logging.WARNING)  # as Hearth's log set-up leaves the stdlib loggers
        logger.propagate = False


@dataclass
class RunResult:
    name: str
    count: int
    first_slot: float
    last_slot: float
    startup_seconds: float = 0.0
    started_at: float = 0.0  # epoch seconds start-up finished
    lateness: list[float] = field(default_factory=list)  # seconds, one per ritual that fired
    began: list[float] = field(default_factory=list)  # Hearth: round's opened_at − slot
    drain_seconds: float = 0.0  # after the last job fired, until its other tasks finished
    last_fired_at: float = math.nan  # epoch seconds
    duplicates: int = 0  # prompts posted more than once for the same slot
    rss_baseline: float = 0.0  # MiB, after imports, before the run built anything
    rss_started: float = 0.0
    rss_fired: float = 0.0
    rss_peak: float = 0.0
    log_counts: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    profile: str = ""

    @property
    def fired(self) -> int:
        return len(self.lateness)

    @property
    def started_in_time(self) -> bool:
        return self.started_at < self.first_slot


class Recorder:
    """Notes the first time each ritual fires; wakes the waiter when all have."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.times: dict[int, float] = {}
        self.duplicates = 0
        self.all_fired = asyncio.Event()

    def note(self, index: int, at: float) -> None:
        if index in self.times:
            self.duplicates += 1
            return
        self.times[index] = at
        if len(self.times) == self.count:
            self.all_fired.set()

    def lateness(self, plan: Plan) -> list[float]:
        return [at - plan.slots[index] for index, at in self.times.items()]

    async def wait(self, plan: Plan, patience: float, label: str) -> None:
        """Until every job fired or `patience` seconds after the last slot; prints progress."""
        deadline = plan.last_slot + patience
        reported = -1
        while not self.all_fired.is_set() and time.time() < deadline:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.all_fired.wait(), min(10.0, deadline - time.time()))
            now = time.time()
            if now >= plan.first_slot and len(self.times) != reported:
                reported = len(self.times)
                late = now - plan.first_slot
                print(
                    f"  {label}: {reported:,}/{self.count:,} fired, {late:,.0f} s after "
                    "the first slot",
                    flush=True,
                )


# --- Hearth -----------------------------------------------------------------------------


class BenchPort:
    """An outbound port that posts nowhere and notes when each prompt was posted."""

    platform = PLATFORM
    capabilities = Capabilities()

    def __init__(self, recorder: Recorder) -> None:
        self._recorder = recorder
        self._sequence = 0

    async def post(
        self,
        channel: ChannelRef,
        message: OutboundMessage,
        *,
        thread: MessageRef | None = None,
        reply_to: MessageRef | None = None,
    ) -> MessageRef:
        at = time.time()
        if thread is None and reply_to is None:  # a round's prompt, not a reminder/synthesis
            self._recorder.note(int(channel.channel.removeprefix("c")), at)
        self._sequence += 1
        return MessageRef(channel, f"m{self._sequence}")

    async def edit(self, ref: MessageRef, message: OutboundMessage) -> None:
        return None

    async def delete(self, ref: MessageRef) -> None:
        return None

    async def react(self, ref: MessageRef, emoji: str) -> None:
        return None

    async def fetch_message(self, ref: MessageRef) -> ChatMessage:
        raise NotImplementedError("the bench port fetches nothing")

    async def fetch_thread(self, ref: MessageRef) -> list[ChatMessage]:
        return []

    def permalink(self, ref: MessageRef) -> str:
        return f"bench://{ref.channel.channel}/{ref.message_id}"

    def resolve_channel(self, text: str, here: ChannelRef) -> ChannelRef | None:
        return None

    def resolve_reference(self, text: str, channel: ChannelRef) -> MessageRef | None:
        return None


def new_ritual(index: int, cron: str, timezone: str) -> NewRitual:
    return NewRitual(
        name=f"bench-{index:06d}",
        kind=RitualKind.REFLECTION,
        platform=PLATFORM,
        space="bench",
        channel=f"c{index}",  # BenchPort reads the ritual's index back from this
        schedule_text=f"cron `{cron}` ({timezone})",
        cron=cron,
        timezone=timezone,
        window_minutes=WINDOW_MINUTES,
    )


async def create_rituals(database: Database, plan: Plan, slug: str) -> float:
    """Create the plan's rituals through the store; returns the seconds it took."""
    directory = Directory(database)
    community = await directory.ensure_community(slug, "Ritual bench", plan.timezone)
    store = RitualStore(database)
    started = time.perf_counter()
    step = max(plan.count // 10, 1000)
    for index, cron in enumerate(plan.crons):
        await store.create(community.id, new_ritual(index, cron, plan.timezone))
        if (index + 1) % step == 0 and index + 1 < plan.count:
            print(f"  created {index + 1:,}/{plan.count:,} rituals", flush=True)
    return time.perf_counter() - started


def service(database: Database, grace: timedelta) -> Rituals:
    return Rituals(
        RitualStore(database),
        InsightStore(database),
        Directory(database),
        SystemClock(),
        grace,
        Metrics(),
    )


async def calibrate(url: str, count: int, timezone: str, grace: timedelta) -> tuple[float, float]:
    """Seconds per ritual to create, and to start the service on, measured on `count`
    throwaway rituals (removed again) whose cron does not fire during the bench."""
    database = open_database(url)
    try:
        await upgrade(database)
        store = RitualStore(database)
        if await store.rituals():
            raise SystemExit("--database-url must name a database without rituals")
        far = datetime.now(UTC) + timedelta(hours=12)
        plan = make_plan(count, next_minute(far), timezone)
        create = await create_rituals(database, plan, "bench-calibration")
        rituals = service(database, grace)
        started = time.perf_counter()
        await rituals.start()
        start = time.perf_counter() - started
        await rituals.stop()
        for ritual in await store.rituals():
            await store.remove(ritual.id)
        return create / count, start / count
    finally:
        await database.dispose()


async def round_statuses(database: Database) -> dict[str, int]:
    async with database.sessions() as session:
        rows = await session.execute(
            select(RitualRound.status, func.count()).group_by(RitualRound.status)
        )
        return {str(status): int(n) for status, n in rows.tuples()}


async def fire_began(database: Database, plan: Plan) -> list[float]:
    """For each opened round, opened_at − slot: `Rituals._fire` reads the clock for the
    engine right after loading the ritual, so this is how late its job began (APScheduler's
    dispatch plus one SELECT, including any wait for a pooled connection)."""
    async with database.sessions() as session:
        rows = await session.execute(
            select(Ritual.channel, RitualRound.opened_at)
            .join(RitualRound, RitualRound.ritual_id == Ritual.id)
            .where(RitualRound.opened_at.is_not(None))
        )
        return [
            opened.timestamp() - plan.slots[int(channel.removeprefix("c"))]
            for channel, opened in rows.tuples()
            if opened is not None
        ]


async def drain(limit: float = 120) -> float:
    """Wait (up to `limit` s) for the loop's other tasks, e.g. the jobs still recording the
    rounds they posted, so stopping does not cancel them; returns the seconds waited."""
    started = time.perf_counter()
    me = asyncio.current_task()
    while time.perf_counter() - started < limit:
        if not [t for t in asyncio.all_tasks() if t is not me and not t.done()]:
            break
        await asyncio.sleep(0.05)
    return time.perf_counter() - started


async def hearth_run(url: str, plan: Plan, grace: timedelta, patience: float) -> RunResult:
    result = RunResult("Hearth", plan.count, plan.first_slot, plan.last_slot)
    quiet_logs(result.log_counts, result.errors)
    result.rss_baseline = vm_rss_mib()
    database = open_database(url)
    try:
        recorder = Recorder(plan.count)
        rituals = service(database, grace)
        rituals.attach(BenchPort(recorder))
        started = time.perf_counter()
        await rituals.start()
        result.startup_seconds = time.perf_counter() - started
        result.started_at = time.time()
        result.rss_started = vm_rss_mib()
        print(
            f"  Hearth: started in {result.startup_seconds:,.1f} s; first slot in "
            f"{plan.first_slot - result.started_at:,.1f} s",
            flush=True,
        )
        try:
            await recorder.wait(plan, patience, "Hearth")
            result.drain_seconds = await drain()
        finally:
            result.rss_fired = vm_rss_mib()
            await rituals.stop()
        result.lateness = recorder.lateness(plan)
        result.last_fired_at = max(recorder.times.values(), default=math.nan)
        result.duplicates = recorder.duplicates
        statuses = await round_statuses(database)
        result.notes.append(
            "rounds by status: " + ", ".join(f"{k} {v:,}" for k, v in sorted(statuses.items()))
        )
        result.began = await fire_began(database, plan)
    finally:
        await database.dispose()
    result.rss_peak = peak_rss_mib()
    return result


# --- bare APScheduler -------------------------------------------------------------------


async def bare_run(plan: Plan, grace: timedelta, patience: float) -> RunResult:
    result = RunResult("bare APScheduler", plan.count, plan.first_slot, plan.last_slot)
    quiet_logs(result.log_counts, result.errors)
    result.rss_baseline = vm_rss_mib()
    recorder = Recorder(plan.count)

    async def fire(index: int) -> None:
        recorder.note(index, time.time())

    zone = ZoneInfo(plan.timezone)
    scheduler = AsyncIOScheduler(timezone=UTC)
    started = time.perf_counter()
    for index, cron in enumerate(plan.crons):
        scheduler.add_job(
            fire,
            CronTrigger.from_crontab(cron, timezone=zone),
            args=[index],
            id=f"ritual-{index}",
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=int(grace.total_seconds()) or None,
        )
    scheduler.start()
    result.startup_seconds = time.perf_counter() - started
    result.started_at = time.time()
    result.rss_started = vm_rss_mib()
    print(
        f"  bare APScheduler: started in {result.startup_seconds:,.1f} s; first slot in "
        f"{plan.first_slot - result.started_at:,.1f} s",
        flush=True,
    )
    try:
        await recorder.wait(plan, patience, "bare APScheduler")
        result.drain_seconds = await drain()
    finally:
        result.rss_fired = vm_rss_mib()
        scheduler.shutdown(wait=False)
    result.lateness = recorder.lateness(plan)
    result.last_fired_at = max(recorder.times.values(), default=math.nan)
    result.duplicates = recorder.duplicates
    result.rss_peak = peak_rss_mib()
    return result


# --- child processes --------------------------------------------------------------------


def _profiled(run: Callable[[], RunResult], path: str | None) -> RunResult:
    if path is None:
        return run()
    profiler = cProfile.Profile()
    result = profiler.runcall(run)
    profiler.dump_stats(path)
    return result


def hearth_child(
    url: str, plan: Plan, grace: timedelta, patience: float, profile: str | None
) -> RunResult:
    return _profiled(lambda: asyncio.run(hearth_run(url, plan, grace, patience)), profile)


def bare_child(plan: Plan, grace: timedelta, patience: float) -> RunResult:
    return asyncio.run(bare_run(plan, grace, patience))


def in_fresh_process(function: Callable[..., T], *args: Any) -> T:
    """Run `function(*args)` in a newly spawned interpreter (clean RSS, no shared garbage)."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


# --- report -----------------------------------------------------------------------------


def _seconds(value: float) -> str:
    if math.isnan(value):
        return "—"
    return f"{value * 1000:,.0f} ms" if abs(value) < 1 else f"{value:,.2f} s"


def _percentiles(samples: Sequence[float]) -> str:
    if not samples:
        return "—"
    return "p50 " + " / p99 ".join(_seconds(percentile(samples, p)) for p in (50, 99))


def _mib(value: float, baseline: float | None = None) -> str:
    if math.isnan(value):
        return "—"
    text = f"{value:,.1f} MiB"
    return text if baseline is None else f"{text} (+{value - baseline:,.1f})"


def report(args: argparse.Namespace, results: list[RunResult], load: str) -> None:
    table = Table(
        title=f"{args.count:,} ritual cron jobs, half due at minute M, half at M+1 "
        f"({args.timezone})"
    )
    table.add_column("")
    for r in results:
        table.add_column(r.name, justify="right")

    def row(label: str, cell: Callable[[RunResult], str]) -> None:
        table.add_row(label, *(cell(r) for r in results))

    row("fired", lambda r: f"{r.fired:,}/{r.count:,}")
    row("start-up (build jobs, catch up)", lambda r: _seconds(r.startup_seconds))
    row("start-up done before first slot", lambda r: "yes" if r.started_in_time else "NO")

    def lateness(p: float) -> Callable[[RunResult], str]:
        return lambda r: _seconds(percentile(r.lateness, p))

    for p in (50, 95, 99):
        row(f"lateness p{p}", lateness(p))
    row("lateness max", lambda r: _seconds(max(r.lateness, default=math.nan)))
    row("last job ran, after the last slot", lambda r: _seconds(r.last_fired_at - r.last_slot))
    row("  of which before the job began*", lambda r: _percentiles(r.began))
    row("other tasks still running after", lambda r: _seconds(r.drain_seconds))
    row("duplicate prompts", lambda r: f"{r.duplicates:,}")
    row("RSS baseline (imports only)", lambda r: _mib(r.rss_baseline))
    row("RSS after start-up", lambda r: _mib(r.rss_started, r.rss_baseline))
    row("RSS after firing", lambda r: _mib(r.rss_fired, r.rss_baseline))
    row("peak RSS (ru_maxrss)", lambda r: _mib(r.rss_peak, r.rss_baseline))
    console.print(table)
    console.print(
        "* Hearth: the round's opened_at − its slot; `Rituals._fire` reads the clock "
        "right after loading the ritual, so this is APScheduler's dispatch plus one "
        "SELECT (with any wait for a pooled connection); the rest of the lateness is "
        "the engine's work before post()."
    )
    for r in results:
        if not r.started_in_time:
            console.print(
                f"[red]{r.name}: start-up ended {r.started_at - r.first_slot:,.1f} s "
                "after the first slot, so its lateness figures include start-up; "
                "run again with a larger --lead[/red]"
            )
        if r.fired < r.count:
            console.print(
                f"[red]{r.name}: {r.count - r.fired:,} jobs had not fired "
                f"{args.timeout:g} s after the last slot (--timeout)[/red]"
            )
        for note in r.notes:
            console.print(f"{r.name}: {note}")
        shown = [f"{k} ×{v:,}" for k, v in r.log_counts.most_common(8)]
        console.print(f"{r.name} log events: " + ("; ".join(shown) or "none"))
        for error in r.errors:
            console.print(f"{r.name} error (first few): {error}")
    info = machine_info(**{"load average (1/5/15 min) at start": load}) | {
        "measured": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    }
    for key, value in info.items():
        console.print(f"[bold]{key}:[/bold] {value}")


def show_profile(path: str) -> None:
    console.print(f"Hearth run profile (cProfile, saved to {path}), top functions by own time:")
    pstats.Stats(path).sort_stats("tottime").print_stats(25)
    console.print("… and by cumulative time:")
    pstats.Stats(path).sort_stats("cumulative").print_stats(40)


# --- main -------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--count",
        type=int,
        default=DEFAULT_COUNT,
        help=f"rituals / cron jobs (default {DEFAULT_COUNT:,})",
    )
    parser.add_argument("--timezone", default="UTC", help="the rituals' zone (default UTC)")
    parser.add_argument(
        "--grace-minutes",
        type=int,
        default=360,
        help="catch-up grace, as rituals.catch_up_grace_minutes (default 360)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=600,
        help="stop waiting this many seconds after the last slot (default 600)",
    )
    parser.add_argument(
        "--lead", type=float, help="seconds from now to the first slot (default: estimated)"
    )
    parser.add_argument(
        "--database-url", help="Hearth database (empty); default: a fresh SQLite file in a temp dir"
    )
    parser.add_argument(
        "--profile",
        metavar="PATH",
        help="run Hearth's process under cProfile, save the stats to PATH",
    )
    parser.add_argument("--skip-bare", action="store_true", help="measure Hearth only")
    parser.add_argument("--keep", action="store_true", help="keep the temp directory")
    args = parser.parse_args(argv)
    if args.count < 2:
        parser.error("--count must be at least 2")
    try:
        ZoneInfo(args.timezone)
    except Exception:
        parser.error(f"unknown time zone {args.timezone!r}")
    return args


async def prepare(url: str, args: argparse.Namespace, grace: timedelta) -> Plan:
    """Calibrate, choose minute M, create the rituals; returns what they fire."""
    per_create, per_start = await calibrate(
        url, min(CALIBRATION_COUNT, args.count), args.timezone, grace
    )
    lead = args.lead
    if lead is None:  # creating + spawning the measured process + starting, with room
        lead = 20 + 2 * args.count * (per_create + per_start)
    console.print(
        f"Calibration: {per_create * 1000:.2f} ms to create and "
        f"{per_start * 1000:.2f} ms to start per ritual; first slot in ≥ {lead:,.0f} s"
    )
    plan = make_plan(
        args.count, next_minute(datetime.now(UTC) + timedelta(seconds=lead)), args.timezone
    )
    database = open_database(url)
    try:
        seconds = await create_rituals(database, plan, "bench")
    finally:
        await database.dispose()
    console.print(
        f"Created {args.count:,} rituals in {seconds:,.1f} s; slots at "
        f"{datetime.fromtimestamp(plan.first_slot, UTC):%H:%M} and "
        f"{datetime.fromtimestamp(plan.last_slot, UTC):%H:%M} UTC"
    )
    return plan


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    grace = timedelta(minutes=args.grace_minutes)
    quiet_logs(Counter(), [])  # calibration and set-up log nothing worth reading
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    if os.getloadavg()[0] > 1.5:
        console.print(
            f"[yellow]Load average is {load}: something else is running, "
            "so the figures may be unfair[/yellow]"
        )
    with workspace("hearth-rituals-bench-", args.database_url, args.keep, console.print) as work:
        plan = asyncio.run(prepare(work.url, args, grace))
        console.print("Hearth run (fresh process):")
        results = [
            in_fresh_process(hearth_child, work.url, plan, grace, args.timeout, args.profile)
        ]
        if not args.skip_bare:
            lead = 8 + 0.002 * args.count
            bare = make_plan(
                args.count, next_minute(datetime.now(UTC) + timedelta(seconds=lead)), args.timezone
            )
            console.print(
                "bare APScheduler run (fresh process), slots at "
                f"{datetime.fromtimestamp(bare.first_slot, UTC):%H:%M} and "
                f"{datetime.fromtimestamp(bare.last_slot, UTC):%H:%M} UTC:"
            )
            results.append(in_fresh_process(bare_child, bare, grace, args.timeout))
        report(args, results, load)
        if args.profile:
            show_profile(args.profile)


if __name__ == "__main__":
    main()
