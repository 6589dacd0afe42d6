"""The public knowledge garden, page by page, on SQLite and PostgreSQL.

Everything is captured through the console as people would (tests/harness/garden_harness.py) and
read back over HTTP from the running Hearth's [web] server.
"""

from __future__ import annotations

import io
import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlencode, urljoin, urlsplit

from adapters.local_embeddings import packaged_model
from bot.app import Hearth
from tests.harness.console_harness import make_config, run_script
from tests.harness.garden_harness import (
    DUST_PUBLIC,
    DUST_QUESTION,
    FORGOTTEN_NAME,
    FORGOTTEN_WORDS,
    GROVE,
    GUILD_DESCRIPTION,
    LONG_WORD,
    NEVER_PUBLIC,
    SECRET_COMMUNITY,
    WEB,
    Visitor,
    captured,
    forget_zelda,
    garden_steps,
    similar_steps,
)

ATOM = "{http://www.w3.org/2005/Atom}"
SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


def garden_config(database_url: str, tmp_path: Path) -> object:
    return make_config(database_url, tmp_path, extra=WEB + GROVE, community_extra=GUILD_DESCRIPTION)


async def test_every_page_shows_public_insights_and_revalidates(
    database_url: str, tmp_path: Path
) -> None:
    out = io.StringIO()
    visitor = Visitor()
    ids: dict[str, str] = {}
    conditional: dict[str, int] = {}

    async def remember(_: Hearth) -> None:
        ids["small"] = captured(out, "Small pull requests")
        ids["zelda"] = captured(out, FORGOTTEN_WORDS)
        ids["secret"] = captured(out, SECRET_COMMUNITY)

    async def pages(hearth: Hearth) -> None:
        small, zelda, secret = ids["small"], ids["zelda"], ids["secret"]
        await visitor.fetch(
            "/",
            "/c/guild/",
            "/c/grove/",
            f"/c/guild/i/{small}",
            f"/c/guild/i/{zelda}",
            f"/c/guild/i/{secret}",
            f"/c/grove/i/{small}",  # another community's id under this one: not here
            "/c/guild/t/review",
            "/c/guild/t/retro",  # only a constellation insight carries it
            "/c/guild/t/review/feed.atom",
            "/search?q=review",
            "/search?q=pricing plans",
            "/search?q=mulch&c=grove",
            '/search?q="unclosed',
            "/search?q=review&c=guild&page=9",
            "/c/guild/feed.atom",
            "/sitemap.xml",
            "/robots.txt",
            "/garden.css",
            "/c/guild",
            "/c/nobody/",
            "/nothing-here",
            "/c/guild/i/99999999999999",
        )(hearth)
        page = visitor.pages[f"/c/guild/i/{small}"]
        again = await Visitor.get(
            hearth, f"/c/guild/i/{small}", {"If-None-Match": page.headers["ETag"]}
        )
        conditional["same"] = again.status
        changed = await Visitor.get(hearth, f"/c/guild/i/{small}", {"If-None-Match": '"stale"'})
        conditional["stale"] = changed.status
        conditional["post"] = (await Visitor.get(hearth, "/c/guild/", method="POST")).status
        conditional["head"] = (await Visitor.get(hearth, "/c/guild/", method="HEAD")).status

    after = Visitor()

    async def after_forget(hearth: Hearth) -> None:
        await after.fetch("/", "/c/guild/", f"/c/guild/i/{ids['zelda']}", "/search?q=ducks")(hearth)

    await run_script(
        garden_config(database_url, tmp_path),
        [*garden_steps(out), remember, pages, *forget_zelda(), after_forget],
        out=out,
    )
    got = visitor.pages
    small, zelda = ids["small"], ids["zelda"]

    # the constellation: both communities, their descriptions, the adoption between them
    home = got["/"]
    assert home.status == 200 and home.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "<svg" in home.text and "The Guild" in home.text and "The Grove" in home.text
    assert "Gardeners who compare notes" in home.text
    assert "The Guild ↔ The Grove: 0 relayed threads, 1 adopted insight" in home.text
    assert home.headers["Cache-Control"] == "no-cache" and home.headers["ETag"]

    guild = got["/c/guild/"].text
    assert "Small pull requests get better reviews" in guild
    assert 'href="/c/guild/t/review">#review</a> <span class="count">2</span>' in guild
    assert "4 public insights" in guild and "Engineers who review" in guild
    assert "4 public insights captured in the last 12 weeks" in guild  # the weekly plot
    assert '<strong dir="auto">reflection</strong> (reflection)' in guild  # its ritual
    assert "0 people took part in the last 8 weeks" in guild
    assert 'rel="alternate" type="application/atom+xml"' in guild
    assert "Mulch keeps" in got["/c/grove/"].text

    insight = got[f"/c/guild/i/{small}"]
    assert insight.status == 200 and "Last-Modified" in insight.headers
    assert '<link rel="canonical" href="http://127.0.0.1:' in insight.text
    assert f'/c/guild/i/{small}">' in insight.text
    assert '<meta property="og:title" content="Small pull requests get better reviews">' in (
        insight.text
    )
    [ld] = re.findall(r'<script type="application/ld\+json">(.*?)</script>', insight.text)
    data = json.loads(ld)
    assert data["@type"] == "Article" and data["author"]["name"] == "cora"
    assert data["keywords"] == ["practice", "review"]
    assert data["url"].endswith(f"/c/guild/i/{small}")
    assert "Adopted by" in insight.text and '<a href="/c/grove/">The Grove</a>' in insight.text
    assert "Related insights" in insight.text and "Review checklists" in insight.text
    assert conditional == {"same": 304, "stale": 200, "post": 403, "head": 200}

    for missing in (
        f"/c/guild/i/{ids['secret']}",
        f"/c/grove/i/{small}",
        "/c/guild/t/retro",
        "/c/nobody/",
        "/nothing-here",
        "/c/guild/i/99999999999999",
    ):
        assert got[missing].status == 404, missing
        assert "Nothing public lives at this address" in got[missing].text
    assert got["/c/guild"].status == 301 and got["/c/guild"].headers["Location"] == "/c/guild/"

    tag = got["/c/guild/t/review"].text
    assert "Small pull requests" in tag and "Review checklists" in tag
    assert SECRET_COMMUNITY not in tag

    search = got["/search?q=review"].text
    assert "2 public insights match “review”" in search and "<mark>" in search
    assert "No public insights match “pricing plans”" in got["/search?q=pricing plans"].text
    assert "Mulch" in got["/search?q=mulch&c=grove"].text
    bad = got['/search?q="unclosed']
    assert bad.status == 400 and "A quote is not closed" in bad.text
    assert "There are only 1 page(s)" in got["/search?q=review&c=guild&page=9"].text

    feed = ET.fromstring(got["/c/guild/feed.atom"].text)
    entries = feed.findall(f"{ATOM}entry")
    assert len(entries) == 4
    titles = [e.findtext(f"{ATOM}title") for e in entries]
    assert "Small pull requests get better reviews" in titles
    content = entries[-1].findtext(f"{ATOM}content") or ""
    assert content.startswith("<p>Small pull requests")  # HTML, escaped once in the XML
    tag_feed = ET.fromstring(got["/c/guild/t/review/feed.atom"].text)
    assert len(tag_feed.findall(f"{ATOM}entry")) == 2

    sitemap = ET.fromstring(got["/sitemap.xml"].text)
    locations = [u.findtext(f"{SITEMAP}loc") or "" for u in sitemap.findall(f"{SITEMAP}url")]
    assert any(loc.endswith(f"/c/guild/i/{small}") for loc in locations)
    assert len(locations) == 1 + 2 + 5  # home, two communities, five public insights
    assert "Sitemap: http://127.0.0.1:" in got["/robots.txt"].text
    assert got["/garden.css"].headers["Content-Type"] == "text/css"

    # /forget-me: gone from every page at the next request
    assert after.pages[f"/c/guild/i/{zelda}"].status == 404
    for page in after.pages.values():
        assert FORGOTTEN_WORDS not in page.text and FORGOTTEN_NAME not in page.text
    assert "3 public insights" in after.pages["/c/guild/"].text
    assert after.pages["/c/guild/"].headers["ETag"] != got["/c/guild/"].headers["ETag"]


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "src", "action") and value is not None:
                self.found.append(value)


def links_in(page: str, content_type: str) -> list[str]:
    if "xml" in content_type:
        return re.findall(r"<loc>([^<]+)</loc>", page) + re.findall(r'href="([^"]+)"', page)
    parser = Links()
    parser.feed(page)
    return parser.found


async def test_a_crawler_from_the_home_page_finds_nothing_that_is_not_public(
    database_url: str, tmp_path: Path
) -> None:
    out = io.StringIO()
    seen: dict[str, tuple[int, str, str]] = {}

    async def crawl(hearth: Hearth) -> None:
        base = Visitor.base(hearth)
        # and a search whose answers only semantic search finds, where the closest in
        # meaning is not public (the vector index knows nothing of visibility)
        queue = ["/", "/sitemap.xml", "/robots.txt", "/search?" + urlencode({"q": DUST_QUESTION})]
        while queue:
            path = queue.pop(0)
            if path in seen:
                continue
            page = await Visitor.get(hearth, path)
            content_type = page.headers.get("Content-Type", "")
            seen[path] = (page.status, content_type, page.text)
            if page.status in (301, 302):
                queue.append(page.headers["Location"])
                continue
            for link in links_in(page.text, content_type):
                absolute = urljoin(base + path, link)
                parts = urlsplit(absolute)
                if f"{parts.scheme}://{parts.netloc}" != base:
                    continue
                local = parts.path + (f"?{parts.query}" if parts.query else "")
                if local not in seen and local != "/search":  # the bare form
                    queue.append(local)

    await run_script(
        garden_config(database_url, tmp_path),
        [*garden_steps(out), *similar_steps(out), *forget_zelda(), crawl],
        out=out,
        embedder=packaged_model(),
    )
    assert len(seen) > 15, sorted(seen)
    by_meaning = seen["/search?" + urlencode({"q": DUST_QUESTION})][2]
    assert DUST_PUBLIC in by_meaning and "≈ similar meaning" in by_meaning
    assert any("/i/" in path for path in seen) and any("/t/" in path for path in seen)
    assert any(path.endswith("feed.atom") for path in seen)
    for path, (status, content_type, text) in seen.items():
        assert status == 200, (path, status)
        for secret in (*NEVER_PUBLIC, FORGOTTEN_NAME):
            assert secret not in text, (path, secret)
        if content_type.startswith("text/html"):
            assert "<script>alert" not in text and "javascript:" not in text.split("<body")[
                1
            ].replace("[click me](javascript:alert(2))", ""), path
            assert 'href="javascript' not in text


async def test_hostile_text_is_escaped_and_laid_out(database_url: str, tmp_path: Path) -> None:
    out = io.StringIO()
    visitor = Visitor()

    async def visit(hearth: Hearth) -> None:
        hostile = captured(out, "<script>alert")
        await visitor.fetch(
            f"/c/guild/i/{hostile}", "/c/guild/", "/c/guild/feed.atom", "/garden.css"
        )(hearth)
        visitor.pages["insight"] = visitor.pages[f"/c/guild/i/{hostile}"]

    await run_script(garden_config(database_url, tmp_path), [*garden_steps(out), visit], out=out)
    page = visitor.pages["insight"].text
    body = page.split('<div class="body" dir="auto">')[1].split("</div>")[0]
    assert "&lt;script&gt;alert('owned')&lt;/script&gt;" in body
    assert "<script>alert" not in page and 'href="javascript' not in page
    assert "[click me](javascript:alert(2))" in body  # shown as text, never a link
    assert LONG_WORD in body and "مرحبا بالعالم" in body
    # JSON-LD carries the text with <, > escaped: it cannot close its script element
    [ld] = re.findall(r'<script type="application/ld\+json">(.*?)</script>', page, re.S)
    assert "<" not in ld and json.loads(ld)["text"].startswith("<script>alert('owned')")
    feed = ET.fromstring(visitor.pages["/c/guild/feed.atom"].text)  # still well-formed XML
    assert any("&lt;script&gt;" in (e.findtext(f"{ATOM}content") or "") for e in feed.iter())
    assert "overflow-wrap:anywhere" in visitor.pages["/garden.css"].text  # no sideways scroll
