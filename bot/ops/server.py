"""One HTTP server per process: health, readiness, metrics, and any adapter's webhook.

Routes can be added until the server starts and after (a dispatch table, not aiohttp's
frozen router), so the Slack adapter mounts its Events endpoint here instead of opening a
second port. A fallback (the public knowledge garden, bot/garden) answers every path no
exact route claims.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

from bot.ops.metrics import Metrics

log = structlog.get_logger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Probe = Callable[[], Awaitable[str | None]]  # None: ready; else why not
PROBE_TIMEOUT = 3.0


class OpsServer:
    def __init__(self, host: str, port: int, metrics: Metrics) -> None:
        self._host, self._port = host, port
        self.host = host
        self._metrics = metrics
        self._routes: dict[tuple[str, str], Handler] = {}
        self._probes: dict[str, Probe] = {}
        self._fallback: Handler | None = None
        self._prefixes: dict[str, Handler] = {}
        self._runner: web.AppRunner | None = None
        self.port: int | None = None
        self.route("GET", "/healthz", self._healthz)
        self.route("GET", "/readyz", self._readyz)
        self.route("GET", "/metrics", self._metrics_page)

    def route(self, method: str, path: str, handler: Handler) -> None:
        self._routes[(method.upper(), path)] = handler

    def prefix(self, prefix: str, handler: Handler) -> None:
        """`handler` answers every method on every path under `prefix` (e.g. "/ap/c/")."""
        self._prefixes[prefix] = handler

    def fallback(self, handler: Handler) -> None:
        """`handler` answers any path without an exact route (and says 404 itself)."""
        self._fallback = handler

    def probe(self, name: str, check: Probe) -> None:
        """Readiness needs `check` to answer None (e.g. "database", "matrix")."""
        self._probes[name] = check

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        log.info("ops.listening", host=self._host, port=self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        handler = self._routes.get((request.method, request.path))
        if handler is None:
            for prefix, under in self._prefixes.items():
                if request.path.startswith(prefix):
                    return await under(request)
            if any(path == request.path for _, path in self._routes):
                return web.json_response({"error": "method not allowed"}, status=405)
            if self._fallback is not None:
                return await self._fallback(request)
            return web.json_response({"error": "not found"}, status=404)
        return await handler(request)

    async def _healthz(self, _request: web.Request) -> web.StreamResponse:
        return web.json_response({"status": "alive"})

    async def readiness(self) -> dict[str, str]:
        """What is not ready, by name (empty: ready). Probes run side by side, bounded."""
        names = list(self._probes)
        results = await asyncio.gather(
            *(_bounded(self._probes[name]) for name in names), return_exceptions=False
        )
        return {name: why for name, why in zip(names, results, strict=True) if why is not None}

    async def _readyz(self, _request: web.Request) -> web.StreamResponse:
        failing = await self.readiness()
        if failing:
            return web.json_response({"status": "not ready", "failing": failing}, status=503)
        return web.json_response({"status": "ready", "checked": sorted(self._probes)})

    async def _metrics_page(self, _request: web.Request) -> web.StreamResponse:
        body, content_type = await self._metrics.render()
        response = web.Response(body=body)
        response.headers["Content-Type"] = content_type
        return response


async def _bounded(check: Probe) -> str | None:
    try:
        return await asyncio.wait_for(check(), PROBE_TIMEOUT)
    except TimeoutError:
        return f"no answer within {PROBE_TIMEOUT:g} s"
    except Exception as exc:  # a probe that fails says why; it never breaks /readyz
        return f"{type(exc).__name__}: {exc}"[:300]
