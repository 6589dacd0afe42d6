"""One insight's page (or a member's view of it) and its related insights."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

from aiohttp import web

from bot.garden.pages import SCOPE, SIGNED, GardenPages, NotFoundPage, Page, excerpt, json_ld
from knowledge.garden import InsightCard, PublicCommunity, PublicInsight
from knowledge.garden_auth import SignedIn
from knowledge.vocabulary import Role


class InsightPages(GardenPages):
    """An insight's page."""

    async def insight_page(
        self, request: web.Request, community: PublicCommunity, insight_id: int
    ) -> Page:
        members_view = await self._member_view(request, community, insight_id)
        if members_view is not None:
            return members_view
        insight = await self._store.insight(community.id, insight_id)
        if insight is None:
            raise NotFoundPage
        related = await self._store.related(insight.card)
        return self.public_insight(request, community, insight, related)

    async def visitor_insight_page(self, request: web.Request, slug: str, insight_id: int) -> Page:
        """A visitor's insight page, read in one go (knowledge.garden.insight_page)."""
        found = await self._store.insight_page(slug, insight_id)
        if found is None:
            raise NotFoundPage
        return self.public_insight(request, found.community, found.insight, found.related)

    def public_insight(
        self,
        request: web.Request,
        community: PublicCommunity,
        insight: PublicInsight,
        related: Sequence[InsightCard],
    ) -> Page:
        card = insight.card
        base = self.base_url(request)
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
        return self.render(
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

    async def _member_view(
        self, request: web.Request, community: PublicCommunity, insight_id: int
    ) -> Page | None:
        """A signed-in member's page of any insight of their own community (with the edit
        form for curators), or of one a linked community shares with theirs (read only);
        None for anything else, which then shows only if it is public."""
        signed: SignedIn | None = SIGNED.get()
        scope = SCOPE.get()
        if signed is None or scope is None or self._members is None:
            return None
        if signed.community.id == community.id:
            view = await self._members.insight(signed, insight_id)
        else:
            view = await self._members.shared_insight(scope, community.id, insight_id)
        if view is None:
            return None
        own = signed.community.id == community.id
        return self.render(
            request,
            "member_insight.html.j2",
            title=view.title or excerpt(view.body, 110),
            canonical=None,
            community=community,
            view=view,
            error=None,
            shared_by=None if own else community.name,
            may_edit=own and signed.member.role.at_least(Role.CURATOR),
        )
