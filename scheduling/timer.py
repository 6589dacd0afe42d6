"""APScheduler wiring: one cron job per ritual, one timer for the next round deadline.

APScheduler only says *when*; what happens is the engine's, read from the store. So jobs
are rebuilt from the store at start and reconciled with it every few seconds (rituals
made, changed or removed through other instances), and a missed or doubled wake-up does
no harm: every instance has a job for every ritual, the store lets one open each round.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from knowledge.clock import Clock
from knowledge.rituals import RitualSchedule, RitualView
from scheduling.schedule import cron_trigger

log = structlog.get_logger(__name__)

SWEEP = timedelta(seconds=30)  # also catches deadlines set by other processes


class RitualTimer:
    def __init__(
        self,
        fire: Callable[[int], Awaitable[None]],
        sweep: Callable[[], Awaitable[None]],
        grace: timedelta,
        clock: Clock,
        reconcile: Callable[[], Awaitable[None]] | None = None,
        reconcile_every: timedelta = timedelta(seconds=5),
    ) -> None:
        self._clock = clock
        self._fire = fire
        self._sweep = sweep
        self._reconcile = reconcile
        self._reconcile_every = reconcile_every
        self._grace = grace
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._armed: datetime | None = None
        self._jobs: dict[int, tuple[str, str]] = {}  # ritual id -> (cron, zone) it runs on

    def start(self, rituals: Sequence[RitualView | RitualSchedule]) -> None:
        self.reconcile(rituals)
        self._scheduler.add_job(
            self._sweep,
            IntervalTrigger(seconds=SWEEP.total_seconds()),
            id="ritual-sweep",
            coalesce=True,
            max_instances=1,
            replace_existing=True,
        )
        if self._reconcile is not None:
            self._scheduler.add_job(
                self._reconcile,
                IntervalTrigger(seconds=self._reconcile_every.total_seconds()),
                id="ritual-reconcile",
                coalesce=True,
                max_instances=1,
                replace_existing=True,
            )
        self._scheduler.start()

    def reconcile(self, rituals: Sequence[RitualView | RitualSchedule]) -> None:
        """Make the jobs match the store: add new rituals, move changed ones, drop paused
        and removed ones. Unchanged jobs are left alone (their next run stays put)."""
        before = dict(self._jobs)
        for ritual in rituals:
            self.schedule(ritual)
        for gone in self._jobs.keys() - {r.id for r in rituals}:
            self.unschedule(gone)
        if self._jobs != before:
            added = self._jobs.keys() - before.keys()
            dropped = before.keys() - self._jobs.keys()
            moved = [i for i in self._jobs.keys() & before.keys() if self._jobs[i] != before[i]]
            log.info("ritual.reconciled", added=len(added), dropped=len(dropped), moved=len(moved))

    def stop(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def schedule(self, ritual: RitualView | RitualSchedule) -> None:
        job_id = f"ritual-{ritual.id}"
        if ritual.paused:
            self.unschedule(ritual.id)
            return
        timing = (ritual.cron, ritual.timezone)
        if self._jobs.get(ritual.id) == timing:
            return
        self._jobs[ritual.id] = timing  # also when it fails below: not retried every pass
        try:
            trigger = cron_trigger(ritual.cron, ZoneInfo(ritual.timezone))
        except (ValueError, ZoneInfoNotFoundError) as exc:  # one bad row stops no other
            log.error("ritual.unschedulable", ritual=ritual.id, error=str(exc))
            return
        self._scheduler.add_job(
            self._fire,
            trigger,
            args=[ritual.id],
            id=job_id,
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=int(self._grace.total_seconds()) or None,
        )

    def unschedule(self, ritual_id: int) -> None:
        self._jobs.pop(ritual_id, None)
        job = self._scheduler.get_job(f"ritual-{ritual_id}")
        if job is not None:
            job.remove()

    def wake_at(self, moment: datetime | None) -> None:
        """Arm the one deadline timer (reminders, closes, retries) for `moment`."""
        if moment is None:
            return
        self._armed = max(moment, self._clock.now())
        self._scheduler.add_job(
            self._sweep,
            DateTrigger(run_date=self._armed),
            id="ritual-deadline",
            replace_existing=True,
        )

    def wake_by(self, moment: datetime | None) -> None:
        """Make sure the deadline timer fires no later than `moment` (no store read)."""
        now = self._clock.now()
        if moment is not None and (
            self._armed is None or self._armed <= now or moment < self._armed
        ):
            self.wake_at(moment)

    def retry(self, ritual_id: int, moment: datetime) -> None:
        """Fire one ritual again at `moment` (after a failure), once."""
        self._scheduler.add_job(
            self._fire,
            DateTrigger(run_date=moment),
            args=[ritual_id],
            id=f"ritual-retry-{ritual_id}",
            replace_existing=True,
        )

    def next_run(self, ritual_id: int) -> datetime | None:
        job = self._scheduler.get_job(f"ritual-{ritual_id}")
        return None if job is None else job.next_run_time
