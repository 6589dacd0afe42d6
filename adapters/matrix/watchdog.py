"""The Matrix sync watchdog: a long poll can hang on an open but silent connection.

Why (`watchdog_interval_seconds`): no error ever comes from such a connection. A nonce
written to the bot's account data must come back in a sync within
`watchdog_timeout_seconds`; if not, the adapter is told it stalled (`matrix.stalled` is
logged and the long poll is cancelled and started again from the kept token).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from urllib.parse import quote
from uuid import uuid4

import structlog
from aiohttp import ClientError
from nio import AsyncClient, SyncResponse  # type: ignore[import-untyped]

from bot.port import DeliveryError, Transient

log = structlog.get_logger(__name__)

PROBE = "org.hearth.probe"  # account data the watchdog writes and expects back in a sync


class Watchdog:
    """Probes sync liveness every `interval` seconds; `stalled` when a probe is lost."""

    def __init__(
        self,
        client: AsyncClient,
        interval: float,
        timeout: float,
        stopping: asyncio.Event,
        stalled: Callable[[float], None],
        probed: Callable[[float], None],
    ) -> None:
        self.client = client
        self.interval = interval
        self.timeout = timeout
        self._stopping = stopping
        self._stalled = stalled
        self._probed = probed
        self._probe: tuple[str, asyncio.Future[None]] | None = None  # nonce awaited in a sync

    async def run(self) -> None:
        """Probe sync liveness every interval; restart the long poll when a probe is lost."""
        loop = asyncio.get_running_loop()
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.interval)
            if self._stopping.is_set():
                return
            nonce, sent = uuid4().hex, loop.time()
            self._probe = (nonce, loop.create_future())
            try:
                async with asyncio.timeout(self.timeout):
                    await self._put_probe(nonce)
                    await self._probe[1]
                self._probed(loop.time() - sent)
            except TimeoutError:
                self._stalled(loop.time() - sent)
            except DeliveryError as exc:  # the server is down: the sync loop backs off itself
                log.warning("matrix.probe_failed", error=str(exc))
            finally:
                self._probe = None

    async def _put_probe(self, nonce: str) -> None:
        """Write the nonce into the bot's own account data (nio has no call for it)."""
        path = f"/_matrix/client/v3/user/{quote(self.client.user_id, safe='')}/account_data/{PROBE}"
        try:
            response = await self.client.send(
                "PUT",
                path,
                json.dumps({"nonce": nonce}),
                headers={
                    "Authorization": f"Bearer {self.client.access_token}",
                    "Content-Type": "application/json",
                },
            )
        except (OSError, ClientError) as exc:
            raise Transient(f"probe not written: {exc!r}") from exc
        async with response:
            if response.status != 200:
                raise Transient(f"probe not written: HTTP {response.status}")

    def saw(self, response: SyncResponse) -> None:
        """Resolve the probe awaited, if this sync brought its nonce back."""
        if self._probe is None or self._probe[1].done():
            return
        for event in response.account_data_events:
            content = getattr(event, "content", None)
            if (
                getattr(event, "type", None) == PROBE
                and isinstance(content, dict)
                and content.get("nonce") == self._probe[0]
            ):
                self._probe[1].set_result(None)
                return
