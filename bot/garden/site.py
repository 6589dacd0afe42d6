"""The public knowledge garden: server-rendered pages on the operations server.

Mounted as the OpsServer's fallback (every path without an exact route). It reads only
through `knowledge.garden.GardenStore`, which returns `public` insights and nothing else.
Pages are revalidated on every visit (`Cache-Control: no-cache` + a strong ETag of the
body), so an insight made private or a person's words removed by /forget-me leave the
web at the next request, including from shared caches.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from email.utils import format_datetime
from importlib.resources import files
from typing import Any
from urllib.parse import quote, unquote, urlencode

import structlog
from aiohttp import web
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from bot.commands.parse import parse as parse_command
from bot.garden import svg
from bot.garden.members import COOKIE, MemberGarden, same_origin, session_cookie
from bot.handlers.search import SEARCH, plan_search
from bot.ops.server import OpsServer
from bot.text import to_matrix, to_plain
from bot.text.neutral import parse as parse_neutral
from knowledge.clock import Clock
from knowledge.errors import UserError
from knowledge.garden import GardenStore, InsightCard, PublicCommunity
from knowledge.garden_auth import SignedIn
from knowledge.search import SearchPage, SearchQuery, Terms
from knowledge.search.query import STOP_WORDS
from knowledge.views import CommunityInfo
from knowledge.vocabulary import Role

log = structlog.get_logger(__name__)

PAGE_SIZE = 20
SEARCH_PAGE_SIZE = 10
FEED_SIZE = 30
EXCERPT_CHARS = 280
MAX_PAGE = 10_000
_WORD = re.compile(r"\w{4,}")
RELATED_WORDS = 3  # the rarest of an insight's words that others share
RELATED_CANDIDATES = 8
COMMON_WORD = 500  # in this many insights or more, a word says little about relatedness
COUNTS_TTL = 60.0
_DIGITS = re.compile(r"[0-9]{1,9}")
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


class Recent:
    """Numbers (counts, never words) kept for `ttl` seconds: what makes a page of a
    100k-insight community cheap. Anything a number stands for is still checked at each
    request (a tag shown must still tag a public insight; listings are read fresh), so a
    count may lag by at most `ttl` but no removed word is ever shown."""

    def __init__(self, ttl: float = COUNTS_TTL) -> None:
        self._ttl = ttl
        self._kept: dict[Hashable, tuple[float, Any]] = {}

    async def get(self, key: Hashable, compute: Callable[[], Awaitable[Any]]) -> Any:
        now = time.monotonic()
        kept = self._kept.get(key)
        if kept is not None and kept[0] > now:
            return kept[1]
        value = await compute()
        if len(self._kept) > 10_000:
            self._kept.clear()
        self._kept[key] = (now + self._ttl, value)
        return value


# who is signed in, for the request being handled (each request runs in its own task)
_SIGNED: ContextVar[SignedIn | None] = ContextVar("garden_signed", default=None)


class NotFoundPage(Exception):
    """Answered with the garden's 404 page."""


class Redirect(Exception):
    def __init__(self, location: str, status: int = 301, cookie: str | None = None) -> None:
        super().__init__(location)
        self.location, self.status = location, status
        self.cookie = cookie  # a session token to set; "" to clear it; None: leave it


@dataclass(frozen=True)
class Page:
    body: bytes
    content_type: str
    status: int = 200
    last_modified: datetime | None = None


def excerpt(body: str, limit: int = EXCERPT_CHARS) -> str:
    text = " ".join(to_plain(parse_neutral(body)).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def body_html(body: str) -> Markup:
    """The neutral Markdown as HTML: built escaped, links only http(s)/mailto, then nh3."""
    _, html = to_matrix(parse_neutral(body))  # (plain body, formatted HTML)
    return Markup(html)


def highlighted(snippet: str) -> Markup:
    """A search snippet's **marks** as <mark>, everything else escaped."""
    parts = snippet.split("**")
    if len(parts) % 2 == 0:  # an odd marker: show it as written
        return Markup(escape(snippet))
    out = [
        Markup("<mark>") + escape(part) + Markup("</mark>") if index % 2 else escape(part)
        for index, part in enumerate(parts)
    ]
    return Markup("").join(out)


def json_ld(data: Mapping[str, Any]) -> Markup:
    """JSON for a <script type="application/ld+json">: `<`, `>`, `&` escaped, so no text
    can close the element."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    for char, code in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, code)
    return Markup(text)


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("bot.garden", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["excerpt"] = excerpt
    env.filters["body_html"] = body_html
    env.filters["highlighted"] = highlighted
    env.filters["html_text"] = lambda body: str(body_html(body))  # escaped again in XML
    env.filters["tag_path"] = lambda tag: quote(tag, safe="")
    env.filters["day"] = lambda moment: f"{moment:%Y-%m-%d}"
    env.filters["iso"] = lambda moment: moment.isoformat(timespec="seconds")
    return env


class Garden:
    def __init__(
        self,
        store: GardenStore,
        clock: Clock,
        descriptions: Mapping[str, str] | None = None,
        public_url: str = "",
        timezones: Mapping[str, str] | None = None,
        members: MemberGarden | None = None,
    ) -> None:
        self._members = members
        self._timezones = dict(timezones or {})
        self._store = store
        self._clock = clock
        self._descriptions = dict(descriptions or {})
        self._public_url = public_url.rstrip("/")
        self._env = _environment()
        self._numbers = Recent()
        css = files("bot.garden").joinpath("static/garden.css").read_bytes()
        self._css = Page(css, "text/css")

    def mount(self, ops: OpsServer) -> None:
        ops.fallback(self.handle)

    # -- dispatch ---------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        signed = None
        if self._members is not None and COOKIE in request.cookies:
            signed = await self._members.who(request, self._clock.now())
        _SIGNED.set(signed)
        try:
            if request.method == "POST" and self._members is not None:
                page = await self._post(request, signed)
            elif request.method not in ("GET", "HEAD"):
                return web.Response(status=405, text="Not here.\n", headers={"Allow": "GET, HEAD"})
            else:
                page = await self._route(request)
        except NotFoundPage:
            page = self._render(
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
            return await self._constellation(request)
        if raw == "/garden.css":
            return self._css
        if raw == "/robots.txt":
            return self._robots(request)
        if raw == "/sitemap.xml":
            return await self._sitemap(request)
        if raw == "/search":
            return await self._search(request)
        if raw == "/login" and self._members is not None:
            return await self._login_page(request)
        if len(segments) < 2 or segments[0] != "c":
            raise NotFoundPage
        community = await self._store.community(segments[1])
        signed: SignedIn | None = _SIGNED.get()
        if community is None and signed is not None and signed.community.slug == segments[1]:
            own = signed.community  # a member's own community, even if it publishes nothing
            community = PublicCommunity(own.id, own.slug, own.name, 0, (), None)
        if community is None:
            raise NotFoundPage
        rest = segments[2:]
        if not rest:
            raise Redirect(f"/c/{quote(community.slug)}/")
        if rest == [""]:
            return await self._community(request, community)
        if rest == ["feed.atom"]:
            return await self._feed(request, community, None)
        if len(rest) == 2 and rest[0] == "i" and _DIGITS.fullmatch(rest[1]):
            return await self._insight(request, community, int(rest[1]))
        if len(rest) in (2, 3) and rest[0] == "t" and rest[1]:
            tag = rest[1]
            if len(rest) == 2:
                return await self._tag(request, community, tag)
            if rest[2] == "feed.atom":
                return await self._feed(request, community, tag)
        raise NotFoundPage

    # -- responses --------------------------------------------------------------------------

    def _base(self, request: web.Request) -> str:
        return self._public_url or f"{request.scheme}://{request.host}"

    def _render(
        self,
        request: web.Request,
        template: str,
        *,
        status: int = 200,
        content_type: str = "text/html",
        last_modified: datetime | None = None,
        **context: Any,
    ) -> Page:
        base = self._base(request)
        context.setdefault("signed", _SIGNED.get())
        text = self._env.get_template(template).render(base=base, **context)
        return Page(text.encode(), content_type, status, last_modified)

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

    def _page_number(self, request: web.Request) -> int:
        raw = request.query.get("page", "1")
        if not _DIGITS.fullmatch(raw) or int(raw) < 1:
            return 1
        return min(int(raw), MAX_PAGE)

    # -- pages ------------------------------------------------------------------------------

    async def _constellation(self, request: web.Request) -> Page:
        counted = {c.id: c for c in await self._numbers.get("communities", self._store.communities)}
        communities = sorted(
            (
                replace(
                    c,
                    public_insights=max(1, counted[c.id].public_insights) if c.id in counted else 1,
                    platforms=counted[c.id].platforms if c.id in counted else (),
                    updated_at=counted[c.id].updated_at if c.id in counted else None,
                )
                for c in await self._store.publishing()  # who publishes: exact, every time
            ),
            key=lambda c: (-c.public_insights, c.name),
        )
        edges = await self._store.edges([c.id for c in communities])
        graph = svg.constellation(communities, edges)
        newest = max((c.updated_at for c in communities if c.updated_at), default=None)
        return self._render(
            request,
            "constellation.html.j2",
            last_modified=newest,
            title="Knowledge garden",
            canonical="/",
            communities=communities,
            descriptions=self._descriptions,
            graph=graph,
            edges=edges,
            names={c.id: c.name for c in communities},
        )

    async def _community(self, request: web.Request, community: PublicCommunity) -> Page:
        page = self._page_number(request)
        cards = await self._store.recent(
            community.id, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE
        )
        if page > 1 and not cards:
            raise NotFoundPage
        more, cards = len(cards) > PAGE_SIZE, cards[:PAGE_SIZE]
        community = replace(community, public_insights=await self._store.count(community.id))
        counted = await self._numbers.get(
            ("tags", community.id), lambda: self._store.tag_counts(community.id)
        )
        present = await self._store.tags_present(community.id, [name for name, _ in counted])
        tags = [(name, n) for name, n in counted if name in present]
        now = self._clock.now()
        weeks = await self._store.weekly(community.id, now)
        labels = [
            f"in the 7 days to {now - timedelta(weeks=len(weeks) - 1 - i):%Y-%m-%d}"
            for i in range(len(weeks))
        ]
        path = f"/c/{quote(community.slug)}/"
        return self._render(
            request,
            "community.html.j2",
            last_modified=max((c.updated_at for c in cards), default=None),
            title=community.name,
            canonical=path if page == 1 else f"{path}?page={page}",
            community=community,
            description=self._descriptions.get(community.slug, ""),
            cards=cards,
            page=page,
            more=more,
            tags=tags,
            plot=svg.weekly_bars(weeks, labels),
            weeks_total=sum(weeks),
            rituals=await self._store.rituals(community.id, now),
            members_only=await self._members_recent(request, community),
        )

    async def _members_recent(
        self, request: web.Request, community: PublicCommunity
    ) -> SearchPage | None:
        signed: SignedIn | None = _SIGNED.get()
        if signed is None or self._members is None or signed.community.id != community.id:
            return None
        return await self._members.recent(signed)

    # -- members ----------------------------------------------------------------------------

    async def _login_page(self, request: web.Request) -> Page:
        assert self._members is not None
        token = request.query.get("token", "")
        pending = None
        if 0 < len(token) <= 100:
            pending = await self._members.auth.peek_link(token, self._clock.now())
        return self._render(
            request,
            "login.html.j2",
            status=200 if pending else 410,
            title="Sign in",
            canonical=None,
            pending=pending,
            token=token,
        )

    async def _post(self, request: web.Request, signed: SignedIn | None) -> Page:
        assert self._members is not None
        if not same_origin(request):
            return self._message(request, 403, "This form came from another site.")
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        raw = request.rel_url.raw_path
        if raw == "/login":
            redeemed = await self._members.auth.redeem(
                form.get("token", "")[:100], self._clock.now()
            )
            if redeemed is None:
                return self._message(
                    request,
                    410,
                    "This sign-in link has been used or has expired. Ask for a new one "
                    "with /garden login in chat.",
                )
            session, who = redeemed
            raise Redirect(f"/c/{quote(who.community.slug)}/", 303, cookie=session)
        if signed is None or not signed.csrf_ok(form.get("csrf", "")):
            return self._message(
                request, 403, "Your session has ended or this form is stale: sign in again."
            )
        if raw == "/logout":
            await self._members.auth.sign_out(request.cookies.get(COOKIE, ""))
            raise Redirect("/", 303, cookie="")
        segments = [unquote(part) for part in raw.split("/")[1:]]
        if (
            len(segments) == 5
            and segments[0] == "c"
            and segments[1] == signed.community.slug
            and segments[2] == "i"
            and _DIGITS.fullmatch(segments[3])
            and segments[4] == "edit"
        ):
            insight_id = int(segments[3])
            try:
                await self._members.edit(signed, insight_id, form, self._clock.now())
            except UserError as exc:
                return self._message(request, 400, exc.message)
            raise Redirect(f"/c/{quote(signed.community.slug)}/i/{insight_id}", 303)
        raise NotFoundPage

    def _message(self, request: web.Request, status: int, text: str) -> Page:
        return self._render(
            request, "message.html.j2", status=status, title="Garden", canonical=None, text=text
        )

    async def _insight(
        self, request: web.Request, community: PublicCommunity, insight_id: int
    ) -> Page:
        signed: SignedIn | None = _SIGNED.get()
        if signed is not None and self._members is not None and signed.community.id == community.id:
            view = await self._members.insight(signed, insight_id)
            if view is not None:
                return self._render(
                    request,
                    "member_insight.html.j2",
                    title=view.title or excerpt(view.body, 110),
                    canonical=None,
                    community=community,
                    view=view,
                    error=None,
                    may_edit=signed.member.role.at_least(Role.CURATOR),
                )
        insight = await self._store.insight(community.id, insight_id)
        if insight is None:
            raise NotFoundPage
        card = insight.card
        related = await self._related(card)
        base = self._base(request)
        path = f"/c/{quote(community.slug)}/i/{card.id}"
        headline = card.title or excerpt(card.body, 110)
        summary = excerpt(card.body, 200)
        data = {
            "@context": "https://schema.org",
            "@type": "Article",
            "headline": headline,
            "text": card.body,
            "author": {"@type": "Person", "name": card.author_name},
            "datePublished": card.created_at.isoformat(timespec="seconds"),
            "dateModified": card.updated_at.isoformat(timespec="seconds"),
            "keywords": list(card.tags),
            "url": base + path,
            "mainEntityOfPage": base + path,
            "isPartOf": {
                "@type": "CollectionPage",
                "name": community.name,
                "url": f"{base}/c/{quote(community.slug)}/",
            },
        }
        return self._render(
            request,
            "insight.html.j2",
            last_modified=card.updated_at,
            title=headline,
            canonical=path,
            community=community,
            insight=insight,
            card=card,
            summary=summary,
            # a short insight without a title is its own heading: not shown twice
            show_body=bool(card.title) or headline != excerpt(card.body, 10_000),
            related=related,
            json_ld=json_ld(data),
        )

    async def _related(self, card: InsightCard) -> list[InsightCard]:
        """Public insights of the same community, ranked by the store's full-text ranking
        over any of this insight's most telling words: of its longest words, the rarest
        that other insights share (a word in COMMON_WORD insights or more says little,
        and would make the ranking read tens of thousands of rows)."""
        seen: dict[str, None] = {}
        for text in (card.title or "", card.body):
            for word in _WORD.findall(text):
                if word.casefold() not in STOP_WORDS:
                    seen.setdefault(word.casefold(), None)
        candidates = sorted(seen, key=len, reverse=True)[:RELATED_CANDIDATES]
        frequency = await self._store.word_frequencies(card.community_id, candidates, COMMON_WORD)
        shared = [w for w in candidates if 1 < frequency[w] < COMMON_WORD]  # not only here
        words = sorted(shared, key=lambda w: frequency[w])[:RELATED_WORDS]
        if not words:
            return []
        query = SearchQuery(card.community_id, Terms(tuple(words)), limit=5, match_any=True)
        ids = [i for i in await self._store.related(query) if i != card.id][:4]
        return await self._store.cards(ids)

    async def _tag(self, request: web.Request, community: PublicCommunity, tag: str) -> Page:
        page = self._page_number(request)
        cards = await self._store.recent(
            community.id, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE, tag=tag
        )
        if not cards:
            raise NotFoundPage
        more, cards = len(cards) > PAGE_SIZE, cards[:PAGE_SIZE]
        total = await self._numbers.get(
            ("count", community.id, tag), lambda: self._store.count(community.id, tag)
        )
        path = f"/c/{quote(community.slug)}/t/{quote(tag, safe='')}"
        return self._render(
            request,
            "tag.html.j2",
            last_modified=max(c.updated_at for c in cards),
            title=f"#{tag} · {community.name}",
            canonical=path if page == 1 else f"{path}?page={page}",
            community=community,
            tag=tag,
            total=max(total, len(cards)),
            cards=cards,
            page=page,
            more=more,
        )

    async def _search(self, request: web.Request) -> Page:
        communities = await self._store.publishing()
        text = request.query.get("q", "").strip()
        slug = request.query.get("c", "")
        chosen = next((c for c in communities if c.slug == slug), None)
        page_number = self._page_number(request)
        context: dict[str, Any] = {
            "title": f"Search: {text}" if text else "Search",
            "canonical": None,
            "communities": communities,
            "names": {c.id: c for c in communities},
            "q": text,
            "chosen": chosen,
            "error": None,
            "result": None,
            "described": "",
            "next_url": None,
            "prev_url": None,
        }
        if not text:
            return self._render(request, "search.html.j2", **context)
        # dates typed in the query (since:) are read in the chosen community's zone
        zone = self._timezones.get(chosen.slug, "UTC") if chosen else "UTC"
        where = CommunityInfo(chosen.id if chosen else 0, slug, "", zone)
        try:
            parsed = parse_command(SEARCH, text)
            planned = plan_search(parsed.args, where, page_size=SEARCH_PAGE_SIZE)
        except UserError as exc:
            context["error"] = exc.message
            return self._render(request, "search.html.j2", status=400, **context)
        query = planned.query
        if "page" in request.query:
            query = replace(query, offset=(page_number - 1) * SEARCH_PAGE_SIZE)
        ids = [chosen.id] if chosen else [c.id for c in communities]
        result = await self._store.search(query, ids)
        number = result.offset // SEARCH_PAGE_SIZE + 1
        context.update(result=result, described=planned.described)
        if result.offset + len(result.hits) < result.total:
            context["next_url"] = self._search_url(text, chosen, number + 1)
        if number > 1:
            context["prev_url"] = self._search_url(text, chosen, number - 1)
        context["page_number"] = number
        context["pages"] = max(1, -(-result.total // SEARCH_PAGE_SIZE))
        return self._render(request, "search.html.j2", **context)

    @staticmethod
    def _search_url(text: str, chosen: PublicCommunity | None, page: int) -> str:
        params = {"q": text, **({"c": chosen.slug} if chosen else {}), "page": str(page)}
        return "/search?" + urlencode(params)

    async def _feed(
        self, request: web.Request, community: PublicCommunity, tag: str | None
    ) -> Page:
        cards = await self._store.recent(community.id, limit=FEED_SIZE, tag=tag)
        if tag is not None and not cards:
            raise NotFoundPage
        home = f"/c/{quote(community.slug)}/"
        if tag is not None:
            home += f"t/{quote(tag, safe='')}"
        updated = max((c.updated_at for c in cards), default=None)
        return self._render(
            request,
            "feed.atom.j2",
            content_type="application/atom+xml",
            last_modified=updated,
            community=community,
            tag=tag,
            home=home,
            cards=cards,
            updated=updated or self._clock.now(),
        )

    async def _sitemap(self, request: web.Request) -> Page:
        communities = await self._store.publishing()
        entries = await self._store.sitemap()
        return self._render(
            request,
            "sitemap.xml.j2",
            content_type="application/xml",
            communities=communities,
            entries=entries,
        )

    def _robots(self, request: web.Request) -> Page:
        base = self._base(request)
        text = (
            "User-agent: *\n"
            "Allow: /\n"
            "Disallow: /search\n"
            "Disallow: /healthz\n"
            "Disallow: /readyz\n"
            "Disallow: /metrics\n"
            f"Sitemap: {base}/sitemap.xml\n"
        )
        return Page(text.encode(), "text/plain")


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
