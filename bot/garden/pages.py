"""What every garden page shares: the page record, the template environment and its
filters, the short-lived number cache, who is signed in, and the base the page families
(community_pages, insight_page, search_page, member_pages) are built on.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Awaitable, Callable, Hashable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from importlib.resources import files
from typing import Any
from urllib.parse import quote

from aiohttp import web
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from bot.assist.semantic import SemanticIndex
from bot.garden.members import MemberGarden
from bot.text import to_matrix, to_plain
from bot.text.neutral import parse as parse_neutral
from knowledge.clock import Clock
from knowledge.garden import GardenStore, PublicCommunity
from knowledge.garden_auth import SignedIn
from knowledge.sharing import SharingScope

PAGE_SIZE = 20
EXCERPT_CHARS = 280
MAX_PAGE = 10_000
COUNTS_TTL = 60.0
DIGITS = re.compile(r"[0-9]{1,9}")


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
SIGNED: ContextVar[SignedIn | None] = ContextVar("garden_signed", default=None)
# and which linked communities share knowledge with theirs (None: nobody signed in)
SCOPE: ContextVar[SharingScope | None] = ContextVar("garden_scope", default=None)


class NotFoundPage(Exception):
    """Answered with the garden's 404 page."""


class Redirect(Exception):
    def __init__(self, location: str, status: int = 301, cookie: str | None = None) -> None:
        super().__init__(location)
        self.location, self.status = location, status
        self.cookie = cookie  # a session token to set; "" to clear it; None: leave it


def unlisted(community_id: int, slug: str, name: str) -> PublicCommunity:
    """A community that publishes nothing, as the garden draws it for a member who may
    still visit it (their own, or a linked one that shares with theirs)."""
    return PublicCommunity(community_id, slug, name, 0, (), None)


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


def environment() -> Environment:
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


class GardenPages:
    """The garden's state and how any page is rendered; site.Garden composes the families."""

    def __init__(
        self,
        store: GardenStore,
        clock: Clock,
        descriptions: Mapping[str, str] | None = None,
        public_url: str = "",
        timezones: Mapping[str, str] | None = None,
        members: MemberGarden | None = None,
        semantic: SemanticIndex | None = None,
    ) -> None:
        self._members = members
        self._semantic = semantic
        self._timezones = dict(timezones or {})
        self._store = store
        self._clock = clock
        self._descriptions = dict(descriptions or {})
        self._public_url = public_url.rstrip("/")
        self._env = environment()
        self._numbers = Recent()
        css = files("bot.garden").joinpath("static/garden.css").read_bytes()
        self._css = Page(css, "text/css")

    def base_url(self, request: web.Request) -> str:
        return self._public_url or f"{request.scheme}://{request.host}"

    def render(
        self,
        request: web.Request,
        template: str,
        *,
        status: int = 200,
        content_type: str = "text/html",
        last_modified: datetime | None = None,
        **context: Any,
    ) -> Page:
        base = self.base_url(request)
        context.setdefault("signed", SIGNED.get())
        text = self._env.get_template(template).render(base=base, **context)
        return Page(text.encode(), content_type, status, last_modified)

    def page_number(self, request: web.Request) -> int:
        raw = request.query.get("page", "1")
        if not DIGITS.fullmatch(raw) or int(raw) < 1:
            return 1
        return min(int(raw), MAX_PAGE)
