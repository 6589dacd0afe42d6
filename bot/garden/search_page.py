"""The garden's search page: the chat /search syntax over public insights."""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from bot.commands.parse import parse as parse_command
from bot.garden.pages import GardenPages, Page
from bot.handlers.search import SEARCH, plan_search
from knowledge.errors import UserError
from knowledge.garden import PublicCommunity
from knowledge.views import CommunityInfo

SEARCH_PAGE_SIZE = 10


class SearchPages(GardenPages):
    """The search form and its results."""

    async def search_page(self, request: web.Request) -> Page:
        communities = await self._store.publishing()
        text = request.query.get("q", "").strip()
        slug = request.query.get("c", "")
        chosen = next((c for c in communities if c.slug == slug), None)
        page_number = self.page_number(request)
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
            return self.render(request, "search.html.j2", **context)
        # dates typed in the query (since:) are read in the chosen community's zone
        zone = self._timezones.get(chosen.slug, "UTC") if chosen else "UTC"
        where = CommunityInfo(chosen.id if chosen else 0, slug, "", zone)
        try:
            parsed = parse_command(SEARCH, text)
            planned = plan_search(parsed.args, where, page_size=SEARCH_PAGE_SIZE)
        except UserError as exc:
            context["error"] = exc.message
            return self.render(request, "search.html.j2", status=400, **context)
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
        return self.render(request, "search.html.j2", **context)

    @staticmethod
    def _search_url(text: str, chosen: PublicCommunity | None, page: int) -> str:
        params = {"q": text, **({"c": chosen.slug} if chosen else {}), "page": str(page)}
        return "/search?" + urlencode(params)
