"""The garden's search page: the chat /search syntax over what the viewer may see.

A visitor searches public insights. A signed-in member searching their own community
searches as `/search scope:constellation` does in chat: their community's insights of any
visibility and what linked, consenting communities share with it. With semantic search
on, neighbours by meaning are blended in as in chat, but only after the query has been
restricted to that scope: the vector index knows nothing of visibility, so every
neighbour is checked against the scope in SQL before it is ranked or paged.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from bot.assist.semantic import SemanticIndex
from bot.commands.parse import parse as parse_command
from bot.garden.pages import SCOPE, SIGNED, GardenPages, Page, unlisted
from bot.handlers.search import SEARCH, plan_search
from knowledge.errors import UserError
from knowledge.garden import PublicCommunity
from knowledge.garden_auth import SignedIn
from knowledge.search import SearchBackend, SearchPage, SearchQuery
from knowledge.views import CommunityInfo

SEARCH_PAGE_SIZE = 10


@dataclass(frozen=True)
class Blended:
    """A search backend that blends in neighbours by meaning (chat's hybrid search)."""

    semantic: SemanticIndex
    backend: SearchBackend
    community: CommunityInfo

    async def search(self, query: SearchQuery) -> SearchPage:
        return await self.semantic.search(self.backend, query, self.community)


class SearchPages(GardenPages):
    """The search form and its results."""

    async def search_page(self, request: web.Request) -> Page:
        signed: SignedIn | None = SIGNED.get()
        communities = await self._store.publishing()
        text = request.query.get("q", "").strip()
        slug = request.query.get("c", "")
        own = None  # the member's own community, searched with what siblings share
        if signed is not None and slug == signed.community.slug:
            home = signed.community
            own = next((c for c in communities if c.id == home.id), None)
            own = own or unlisted(home.id, home.slug, home.name)
        chosen = own or next((c for c in communities if c.slug == slug), None)
        page_number = self.page_number(request)
        context: dict[str, Any] = {
            "title": f"Search: {text}" if text else "Search",
            "canonical": None,
            "communities": communities,
            "names": self._names(communities),
            "q": text,
            "chosen": chosen,
            "members_scope": own is not None,
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
        if own is not None and signed is not None and self._members is not None:
            result = await self._members_search(signed, query)
        else:
            ids = [chosen.id] if chosen else [c.id for c in communities]
            first = chosen or (communities[0] if communities else None)
            ranker = self._ranker(self._store.backend, first)
            result = await self._store.search(query, ids, ranker)
        number = result.offset // SEARCH_PAGE_SIZE + 1
        context.update(result=result, described=planned.described)
        if result.offset + len(result.hits) < result.total:
            context["next_url"] = self._search_url(text, chosen, number + 1)
        if number > 1:
            context["prev_url"] = self._search_url(text, chosen, number - 1)
        context["page_number"] = number
        context["pages"] = max(1, -(-result.total // SEARCH_PAGE_SIZE))
        return self.render(request, "search.html.j2", **context)

    async def _members_search(self, signed: SignedIn, query: SearchQuery) -> SearchPage:
        """Chat's `/search scope:constellation`, for the member's own community."""
        assert self._members is not None
        scope = SCOPE.get()
        siblings = scope.ids if scope is not None else ()
        scoped = replace(query, community_id=signed.community.id, shared_from=siblings)
        home = signed.community
        ranker = self._ranker(self._members.search, unlisted(home.id, home.slug, home.name))
        page = await ranker.search(scoped)
        return replace(page, hits=tuple(replace(h, permalink=None) for h in page.hits))

    def _ranker(self, backend: SearchBackend, community: PublicCommunity | None) -> SearchBackend:
        """Full text blended with neighbours by meaning when semantic search is on and may
        be used for this community (a local model, or an endpoint it opted in to)."""
        if self._semantic is None or community is None:
            return backend
        zone = self._timezones.get(community.slug, "UTC")
        info = CommunityInfo(community.id, community.slug, community.name, zone)
        if not self._semantic.enabled_for(info):
            return backend
        return Blended(self._semantic, backend, info)

    def _names(self, communities: list[PublicCommunity]) -> dict[int, Any]:
        """id → (slug, name) of every community a result may come from for this viewer."""
        names: dict[int, Any] = {c.id: c for c in communities}
        signed: SignedIn | None = SIGNED.get()
        scope = SCOPE.get()
        if signed is not None:
            home = signed.community
            names.setdefault(home.id, unlisted(home.id, home.slug, home.name))
        for sibling in scope.siblings if scope is not None else ():
            names.setdefault(
                sibling.community_id,
                unlisted(sibling.community_id, sibling.slug, sibling.name),
            )
        return names

    @staticmethod
    def _search_url(text: str, chosen: PublicCommunity | None, page: int) -> str:
        params = {"q": text, **({"c": chosen.slug} if chosen else {}), "page": str(page)}
        return "/search?" + urlencode(params)
