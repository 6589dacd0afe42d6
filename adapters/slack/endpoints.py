"""Slack's HTTP endpoints: the Events URL and, with OAuth, "Add to Slack" and the redirect.

Why in one place: they are served together, either mounted on the process's operations
server (`[web] listen`) or on a listener of their own, and all of them hand the request
to the Bolt app (`async_dispatch`, or its OAuth flow) as a Bolt request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_bolt.oauth.async_oauth_flow import AsyncOAuthFlow

from adapters.slack.config import SlackConfig
from bot.ops.server import OpsServer

log = structlog.get_logger(__name__)

Handler = Callable[[web.Request], Awaitable[web.Response]]


class Endpoints:
    def __init__(self, app: AsyncApp, config: SlackConfig, server: OpsServer | None) -> None:
        self._app = app
        self._config = config
        self._server = server
        self._runner: web.AppRunner | None = None
        self.mounted = False
        self.port: int | None = None

    @property
    def serving(self) -> bool:
        return self.mounted or self._runner is not None

    def routes(self) -> list[tuple[str, str, Handler]]:
        config = self._config
        routes: list[tuple[str, str, Handler]] = [("POST", config.path, self._events)]
        if self._app.oauth_flow is not None:
            routes.append(("GET", config.install_path, self._install))
            routes.append(("GET", config.redirect_path, self._oauth_redirect))
        return routes

    async def start(self) -> None:
        if self._server is not None:
            for method, path, handler in self.routes():
                self._server.route(method, path, handler)
            self.mounted = True
            log.info("slack.mounted", path=self._config.path, oauth=self._config.oauth)
            return
        web_app = web.Application()
        for method, path, handler in self.routes():
            web_app.router.add_route(method, path, handler)
        self._runner = web.AppRunner(web_app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._config.host, self._config.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        log.info("slack.listening", host=self._config.host, port=self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _events(self, request: web.Request) -> web.Response:
        response = await self._app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(response)

    def _flow(self) -> AsyncOAuthFlow:
        flow = self._app.oauth_flow
        assert flow is not None  # its routes exist only with OAuth
        return flow

    async def _install(self, request: web.Request) -> web.Response:
        """ "Add to Slack": a link to Slack's consent screen, and the state cookie."""
        response = await self._flow().handle_installation(await to_bolt_request(request))
        return await to_aiohttp_response(response)

    async def _oauth_redirect(self, request: web.Request) -> web.Response:
        """Slack sends the installer back here: state checked once, code exchanged, stored."""
        response = await self._flow().handle_callback(await to_bolt_request(request))
        return await to_aiohttp_response(response)
