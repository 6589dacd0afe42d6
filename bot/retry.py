"""How long to wait before trying again: one rule for every retry Hearth schedules itself.

Why one rule: the outbox, ritual posts and the Matrix sync loop each wrote their own
doubling, with their own caps and no jitter in two of them; instances restarted together
then retried together. Retries of a single request inside a platform client use stamina
(see adapters/matrix/outbound.py); these are the ones whose next try is a time, stored or
waited for between long-running work.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import timedelta


def retry_delay(
    failures: int,
    first: timedelta,
    ceiling: timedelta,
    rng: random.Random | None = None,
) -> timedelta:
    """`first` doubled per failure up to `ceiling`; with `rng`, "equal jitter" (between
    half and all of it), so many things failing at once do not retry at once."""
    delay: timedelta = min(ceiling, first * 2 ** min(max(failures, 0), 32))
    if rng is None:
        return delay
    return timedelta(seconds=rng.uniform(delay.total_seconds() / 2, delay.total_seconds()))


@dataclass
class Backoff:
    """The wait between tries of a long-running loop: grows with each failure in a row,
    back to the first after a success."""

    first: timedelta
    ceiling: timedelta
    rng: random.Random | None = None
    _failures: int = field(default=0, init=False)

    def failed(self) -> float:
        """Seconds to wait after this failure."""
        delay = retry_delay(self._failures, self.first, self.ceiling, self.rng)
        self._failures += 1
        return delay.total_seconds()

    def succeeded(self) -> None:
        self._failures = 0
