"""Watching the running adapters: which ended by themselves, which failed, when to stop.

Policy: an adapter that ends by itself (the console's input ended) leaves the others
serving, and Hearth stops once none is left. An adapter that fails is logged with its
cause and stops Hearth with `AdapterFailed` (the process exits non-zero): restarting
the process is the supervisor's job (Docker restart policy, systemd `Restart=`), while
transient trouble is retried inside the adapters (Matrix sync, relay outbox backoff).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Sequence

import structlog

from bot.adapter import Adapter
from knowledge.errors import UserError

log = structlog.get_logger(__name__)


class AdapterFailed(Exception):
    """An adapter stopped with an error; the message is one sentence for the operator."""

    def __init__(self, platform: str, cause: BaseException, *, starting: bool = False) -> None:
        detail = str(cause) or "(no message)"
        when = " while starting" if starting else ""
        super().__init__(
            f"the {platform} adapter failed{when} ({type(cause).__name__}: {detail}), so "
            "Hearth stopped; the log above has the details"
        )
        self.platform = platform
        self.cause = cause


@contextlib.contextmanager
def starting(adapter: Adapter) -> Iterator[None]:
    """Connecting or starting an adapter: a person's mistake (UserError, e.g. a transcript
    in use) keeps its sentence; anything else is logged and becomes AdapterFailed."""
    try:
        yield
    except UserError:
        raise
    except Exception as exc:
        log.error("adapter.failed", platform=adapter.platform, error=repr(exc), exc_info=exc)
        raise AdapterFailed(adapter.platform, exc, starting=True) from exc


async def supervise(adapters: Sequence[Adapter], stop: asyncio.Event | None = None) -> None:
    """Return when every adapter has ended by itself or `stop` is set; raise AdapterFailed
    as soon as one fails."""
    waiters: dict[asyncio.Future[object], Adapter] = {
        asyncio.ensure_future(a.wait_closed()): a for a in adapters
    }
    stopper: asyncio.Future[object] | None = None
    if stop is not None:
        stopper = asyncio.ensure_future(_wait(stop))
    try:
        while waiters:
            watched: set[asyncio.Future[object]] = set(waiters)
            if stopper is not None:
                watched.add(stopper)
            done, _ = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
            if stopper is not None and stopper in done:
                log.info("hearth.stopping", reason="asked to stop")
                return
            for waiter in done:
                adapter = waiters.pop(waiter)
                cause = None if waiter.cancelled() else waiter.exception()
                if cause is not None:
                    log.error(
                        "adapter.failed",
                        platform=adapter.platform,
                        error=repr(cause),
                        exc_info=cause,
                    )
                    raise AdapterFailed(adapter.platform, cause)
                log.info(
                    "adapter.ended",
                    platform=adapter.platform,
                    still_serving=[a.platform for a in waiters.values()],
                )
    finally:
        for pending in [*waiters, *([stopper] if stopper is not None else [])]:
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pending


async def _wait(event: asyncio.Event) -> object:
    return await event.wait()
