"""One platform's catch-up pass: its pace, the threads still to re-read, and its stop.

Why a pass of its own beside live traffic: re-reading every relayed thread before the
adapters started made a restart relay nothing for minutes (two requests a thread, a
thousand threads). Now live events flow at once; the pass reads the threads that can have
changed, most recently active first, at no more than the platform's catch-up rate. A live
message in a thread still waiting has that thread read first (`CatchUpRunner.read_first`),
so what was missed in it is queued before the new message and its lane keeps its order.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable

from knowledge.relays import Participant

READ_COST = 2  # requests one thread read costs on every platform: the root, then its replies
STOP_GRACE_SECONDS = 5.0  # a read under way may finish its transaction before being cancelled
RETRIES = 3  # a thread whose read failed (network, server) is tried again this often
CHANNEL_LIMIT = 1000  # the default of `relay.catch_up_channel_messages`


class Pace:
    """At most `rate` requests a second, evenly spaced (0: unpaced).

    Live reads are charged without waiting, so they push the background reads back
    rather than queue behind them. Measured on the loop's monotonic clock: this is
    pacing, not a time anything is stamped with."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._next = 0.0

    def charge(self, cost: float) -> float:
        """Book `cost` requests; returns how long to wait before making them."""
        if self.rate <= 0:
            return 0.0
        now = asyncio.get_running_loop().time()
        start = max(now, self._next)
        self._next = start + cost / self.rate
        return start - now

    async def take(self, cost: float, stopping: asyncio.Event) -> bool:
        """Wait for our turn; False if asked to stop meanwhile."""
        return await pause(self.charge(cost), stopping)


async def pause(seconds: float, stopping: asyncio.Event) -> bool:
    """Sleep, unless asked to stop first (then False)."""
    if stopping.is_set():
        return False
    if seconds > 0:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), seconds)
    return not stopping.is_set()


class CatchUp:
    """The state of one platform's pass, shared by the pass and the live path."""

    def __init__(self, platform: str, pace: Pace) -> None:
        self.platform = platform
        self.pace = pace
        self.ready = asyncio.Event()  # the threads to read are known
        self.done = asyncio.Event()  # the pass ended (finished, failed or stopped)
        self.stopping = asyncio.Event()
        self.task: asyncio.Task[int] | None = None
        self.started = False
        self.changes = 0
        self.complete = True  # every read succeeded: the position may be saved
        self.channel_limit = CHANNEL_LIMIT  # missed top-level messages read per channel
        # channels linked whole are read (a live top-level message there waits for it)
        self.channels_read = asyncio.Event()
        self._pending: dict[int, Participant] = {}
        self._tries: dict[int, int] = {}
        self._locks: dict[int, asyncio.Lock] = {}

    def load(self, participants: Iterable[Participant]) -> None:
        for participant in participants:
            self._pending[participant.id] = participant

    @property
    def waiting(self) -> int:
        return len(self._pending)

    def is_pending(self, participant_id: int) -> bool:
        return participant_id in self._pending

    def next(self) -> Participant | None:
        return next(iter(self._pending.values()), None)

    def lock(self, participant_id: int) -> asyncio.Lock:
        return self._locks.setdefault(participant_id, asyncio.Lock())

    def finished(self, participant_id: int) -> None:
        self._pending.pop(participant_id, None)
        self._tries.pop(participant_id, None)
        self._locks.pop(participant_id, None)

    def failed(self, participant_id: int) -> bool:
        """Move a failed read to the back of the queue; False once it has used its tries."""
        participant = self._pending.pop(participant_id, None)
        tries = self._tries.get(participant_id, 0) + 1
        if participant is None or tries > RETRIES:
            self.finished(participant_id)
            self.complete = False
            return False
        self._tries[participant_id] = tries
        self._pending[participant_id] = participant
        return True

    def tries(self, participant_id: int) -> int:
        return self._tries.get(participant_id, 0)

    async def stop(self) -> None:
        """Ask the pass to stop between reads; cancel it if a read does not end soon."""
        self.stopping.set()
        self.channels_read.set()
        if self.task is None or self.task.done():
            return
        done, _ = await asyncio.wait([self.task], timeout=STOP_GRACE_SECONDS)
        if not done:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
