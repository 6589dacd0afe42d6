"""The garden's listings: the constellation, a community's page, a tag, feeds, the sitemap
and robots.txt.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from aiohttp import web

from bot.garden import svg
from bot.garden.pages import PAGE_SIZE, SCOPE, SIGNED, GardenPages, NotFoundPage, Page
from knowledge.garden import PublicCommunity
from knowledge.garden_auth import SignedIn

FEED_SIZE = 30


class CommunityPages(GardenPages):
    """The map and the listings built from it."""

    async def constellation_page(self, request: web.Request) -> Page:
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
        return self.render(
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

    async def community_page(self, request: web.Request, community: PublicCommunity) -> Page:
        page = self.page_number(request)
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
        return self.render(
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
            **await self._for_members(community),
        )

    async def _for_members(self, community: PublicCommunity) -> dict[str, Any]:
        """What a signed-in member sees on a community's page beyond its public insights:
        on their own, its newest of any visibility and what linked communities share with
        it; on a linked community's, what that one shares with theirs."""
        signed: SignedIn | None = SIGNED.get()
        scope = SCOPE.get()
        shown: dict[str, Any] = {"members_only": None, "shared": [], "own": False}
        if signed is None or scope is None or self._members is None:
            return shown
        if signed.community.id == community.id:
            shown["members_only"] = await self._members.recent(signed)
            shown["shared"] = await self._members.shared_recent(scope)
            shown["own"] = True
        elif community.id in scope.ids:
            shown["shared"] = await self._members.shared_recent(scope, community.id)
        return shown

    async def tag_page(self, request: web.Request, community: PublicCommunity, tag: str) -> Page:
        page = self.page_number(request)
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
        return self.render(
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

    async def feed_page(
        self, request: web.Request, community: PublicCommunity, tag: str | None
    ) -> Page:
        cards = await self._store.recent(community.id, limit=FEED_SIZE, tag=tag)
        if tag is not None and not cards:
            raise NotFoundPage
        home = f"/c/{quote(community.slug)}/"
        if tag is not None:
            home += f"t/{quote(tag, safe='')}"
        updated = max((c.updated_at for c in cards), default=None)
        return self.render(
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

    async def sitemap_page(self, request: web.Request) -> Page:
        communities = await self._store.publishing()
        entries = await self._store.sitemap()
        return self.render(
            request,
            "sitemap.xml.j2",
            content_type="application/xml",
            communities=communities,
            entries=entries,
        )

    def robots_page(self, request: web.Request) -> Page:
        base = self.base_url(request)
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
