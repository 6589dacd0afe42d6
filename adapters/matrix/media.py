"""Matrix media for people elsewhere: relayed attachments through authenticated media.

Why a proxy: homeservers serve media only to signed-in clients
(`/_matrix/client/v1/media/download/...` with an access token; Synapse's
`enable_authenticated_media`, on by default), so a link relayed to Discord or Slack could
not be opened. With the operations server on (`[web] listen`), a relayed attachment links
to Hearth's `/matrix/media` route instead, which downloads the file with the bot's token
and streams it back. Each link is signed (HMAC of the `mxc://` URI and name, keyed from
the bot's access token), so the route serves only files Hearth itself linked, never any
media id someone guesses. Without the server, the link is the homeserver's authenticated
URL: it names the file, and opens for anyone signed in to that homeserver's client.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode, urlparse

import structlog
from aiohttp import ClientError, web
from nio import AsyncClient  # type: ignore[import-untyped]

if TYPE_CHECKING:
    from bot.ops.server import OpsServer

log = structlog.get_logger(__name__)

ROUTE = "/matrix/media"
CHUNK = 64 * 1024
PASSED_HEADERS = ("Content-Type", "Content-Length", "Content-Disposition")


def download_path(mxc: str, filename: str | None = None) -> str | None:
    """The authenticated download path of an `mxc://server/id` (None if it is not one)."""
    url = urlparse(mxc)
    if url.scheme != "mxc" or not url.netloc or not url.path.strip("/"):
        return None
    tail = f"/{quote(filename, safe='')}" if filename else ""
    media_id = quote(url.path.strip("/"), safe="")
    return f"/_matrix/client/v1/media/download/{quote(url.netloc, safe='')}/{media_id}{tail}"


class MediaLinks:
    """Links to Matrix media that open for anyone: through the proxy when it is mounted."""

    def __init__(self, client: AsyncClient, public_url: Callable[[], str] | None = None) -> None:
        self.client = client
        self._public_url = public_url
        self._mounted = False

    def mount(self, server: OpsServer) -> None:
        server.route("GET", ROUTE, self._serve)
        self._mounted = True

    def _signature(self, mxc: str, name: str) -> str:
        key = hashlib.sha256(b"hearth-media\0" + str(self.client.access_token).encode()).digest()
        return hmac.new(key, f"{mxc}\0{name}".encode(), hashlib.sha256).hexdigest()[:32]

    def url(self, mxc: str, filename: str | None = None) -> str | None:
        path = download_path(mxc, filename)
        if path is None:
            return None
        base = self._public_url() if self._mounted and self._public_url is not None else ""
        if not base:
            return f"{str(self.client.homeserver).rstrip('/')}{path}"
        name = filename or ""
        query = urlencode({"mxc": mxc, "name": name, "sig": self._signature(mxc, name)})
        return f"{base.rstrip('/')}{ROUTE}?{query}"

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        mxc, name = request.query.get("mxc", ""), request.query.get("name", "")
        given = request.query.get("sig", "")
        path = download_path(mxc, name or None)
        if path is None or not hmac.compare_digest(given, self._signature(mxc, name)):
            return web.json_response({"error": "not a file Hearth linked"}, status=403)
        try:
            upstream = await self.client.send(
                "GET", path, headers={"Authorization": f"Bearer {self.client.access_token}"}
            )
        except (OSError, ClientError) as exc:
            log.warning("matrix.media_unreachable", mxc=mxc, error=repr(exc))
            return web.json_response({"error": "the homeserver is unreachable"}, status=502)
        async with upstream:
            if upstream.status != 200:
                log.info("matrix.media_refused", mxc=mxc, status=upstream.status)
                status = 404 if upstream.status == 404 else 502
                why = {"error": "the homeserver has no such file"}
                return web.json_response(why, status=status)
            response = web.StreamResponse(
                headers={h: upstream.headers[h] for h in PASSED_HEADERS if h in upstream.headers}
            )
            response.headers["Cache-Control"] = "private, max-age=3600"
            response.headers["X-Content-Type-Options"] = "nosniff"
            response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
            await response.prepare(request)
            async for chunk in upstream.content.iter_chunked(CHUNK):
                await response.write(chunk)
            await response.write_eof()
            return response
