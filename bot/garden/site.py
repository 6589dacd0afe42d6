"""The public knowledge garden: server-rendered pages on the operations server.

Mounted as the OpsServer's fallback (every path without an exact route). It reads only
through `knowledge.garden.GardenStore`, which returns `public` insights and nothing else.
Pages are revalidated on every visit (`Cache-Control: no-cache` + a strong ETag of the
body), so an insight made private or a person's words removed by /forget-me leave the
web at the next request, including from shared caches.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote, unquote

import structlog
from aiohttp import web

from bot.garden.community_pages import CommunityPages
from bot.garden.insight_page import InsightPages
from bot.garden.member_pages import MemberPages
from bot.garden.members import COOKIE, session_cookie
from bot.garden.pages import DIGITS, SCOPE, SIGNED, NotFoundPage, Page, Redirect, unlisted
from bot.garden.ritual_page import RitualPages
from bot.garden.search_page import SearchPages
from bot.ops.server import OpsServer
from knowledge.garden import PublicCommunity
from knowledge.garden_auth import SignedIn
from knowledge.search import SearchPage

log = structlog.get_logger(__name__)

HEADERS = {
    # Revalidate every time: nothing the garden served may outlive a change or /forget-me
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
}


class Garden(CommunityPages, InsightPages, SearchPages, MemberPages, RitualPages):
    """The garden as an aiohttp fallback: routing, and HTTP caching of what the pages build."""

    def mount(self, ops: OpsServer) -> None:
        ops.fallback(self.handle)

    # -- dispatch ---------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        signed, scope = None, None
        if self._members is not None and COOKIE in request.cookies:
            signed = await self._members.who(request, self._clock.now())
            if signed is not None:
                scope = await self._members.scope(signed)
        SIGNED.set(signed)
        SCOPE.set(scope)
        try:
            if request.method == "POST" and self._members is not None:
                page = await self.post(request, signed)
            elif request.method not in ("GET", "HEAD"):
                return web.Response(status=405, text="Not here.\n", headers={"Allow": "GET, HEAD"})
            else:
                page = await self._route(request)
        except NotFoundPage:
            page = self.render(
                request, "not_found.html.j2", status=404, title="Not found", canonical=None
            )
        except Redirect as moved:
            response = web.Response(status=moved.status, headers={**HEADERS})
            response.headers["Location"] = moved.location
            if moved.cookie is not None:
                if moved.cookie:
                    https = self._public_url.startswith("https://")
                    session_cookie(response, request, moved.cookie, https)
                else:
                    response.del_cookie(COOKIE, path="/")
            return response
        return self._respond(request, page, private=signed is not None)

    async def _route(self, request: web.Request) -> Page:
        raw = request.rel_url.raw_path
        segments = [unquote(part) for part in raw.split("/")[1:]]
        if raw == "/":
            return await self.constellation_page(request)
        if raw == "/garden.css":
            return self._css
        if raw == "/robots.txt":
            return self.robots_page(request)
        if raw == "/sitemap.xml":
            return await self.sitemap_page(request)
        if raw == "/search":
            return await self.search_page(request)
        if raw == "/login" and self._members is not None:
            return await self.login_page(request)
        if len(segments) < 2 or segments[0] != "c":
            raise NotFoundPage
        if (
            len(segments) == 4
            and segments[2] == "i"
            and DIGITS.fullmatch(segments[3])
            and SIGNED.get() is None
        ):
            return await self.visitor_insight_page(request, segments[1], int(segments[3]))
        community = await self._store.community(segments[1]) or self._members_only(segments[1])
        if community is None:
            raise NotFoundPage
        rest = segments[2:]
        if not rest:
            raise Redirect(f"/c/{quote(community.slug)}/")
        if rest == [""]:
            return await self.community_page(request, community)
        if rest == ["rituals"]:
            return await self.rituals_page(request, community)
        if rest == ["feed.atom"]:
            return await self.feed_page(request, community, None)
        if len(rest) == 2 and rest[0] == "i" and DIGITS.fullmatch(rest[1]):
            return await self.insight_page(request, community, int(rest[1]))
        if len(rest) in (2, 3) and rest[0] == "t" and rest[1]:
            tag = rest[1]
            if len(rest) == 2:
                return await self.tag_page(request, community, tag)
            if rest[2] == "feed.atom":
                return await self.feed_page(request, community, tag)
        raise NotFoundPage

    @staticmethod
    def _members_only(slug: str) -> PublicCommunity | None:
        """A community that publishes nothing, which the signed-in member may still visit:
        their own, or a linked one that shares knowledge with theirs."""
        signed: SignedIn | None = SIGNED.get()
        scope = SCOPE.get()
        if signed is None or scope is None:
            return None
        if signed.community.slug == slug:
            own = signed.community
            return unlisted(own.id, own.slug, own.name)
        sibling = next((s for s in scope.siblings if s.slug == slug), None)
        return None if sibling is None else unlisted(sibling.community_id, slug, sibling.name)

    # -- responses --------------------------------------------------------------------------

    def _respond(
        self, request: web.Request, page: Page, private: bool = False
    ) -> web.StreamResponse:
        etag = '"' + hashlib.sha256(page.body).hexdigest()[:32] + '"'
        headers = dict(HEADERS)
        headers["Vary"] = "Cookie"
        if private:  # what a signed-in member sees is never stored by any cache
            headers["Cache-Control"] = "private, no-store"
        headers["ETag"] = etag
        if page.last_modified is not None:
            headers["Last-Modified"] = format_datetime(page.last_modified, usegmt=True)
        if page.status == 200 and _matches(request.headers.get("If-None-Match", ""), etag):
            return web.Response(status=304, headers=headers)
        charset = "" if page.content_type == "text/css" else "; charset=utf-8"
        headers["Content-Type"] = page.content_type + charset
        return web.Response(body=page.body, status=page.status, headers=headers)


def _matches(header: str, etag: str) -> bool:
    if not header:
        return False
    if header.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in header.split(","))


def descriptions_of(communities: Sequence[Any]) -> dict[str, str]:
    """slug → description from the config's [[communities]]."""
    return {c.slug: c.description for c in communities if getattr(c, "description", "")}


__all__ = ["Garden", "SearchPage", "descriptions_of"]
