"""Read-only queries for the public knowledge garden (bot/garden): only `public` insights.

Every query here restricts insights to `visibility = 'public'` itself, so the web layer
cannot forget to. Counts (a community's size, tags, weeks, adoptions in the constellation
graph) are counts of public insights only. Names follow the store's rules: a member who
used /forget-me is "a former member" (their own insights are gone), an adopted copy shows
its credit. Source channels and permalinks are never handed out: a channel's name or a
Matrix room alias inside a link could say more than the community chose to publish.
"""

from __future__ import annotations

from knowledge.garden_graph import GardenGraph
from knowledge.garden_insights import GardenInsights, InsightPageData
from knowledge.garden_listings import GardenListings
from knowledge.garden_rows import (
    SITEMAP_LIMIT,
    CommunityRef,
    ConstellationEdge,
    InsightCard,
    PublicCommunity,
    PublicInsight,
    RitualSummary,
    SitemapEntry,
)
from knowledge.garden_search import GardenSearch

__all__ = [
    "SITEMAP_LIMIT",
    "CommunityRef",
    "ConstellationEdge",
    "GardenStore",
    "InsightCard",
    "InsightPageData",
    "PublicCommunity",
    "PublicInsight",
    "RitualSummary",
    "SitemapEntry",
]


class GardenStore(GardenGraph, GardenListings, GardenInsights, GardenSearch):
    """The map, one community's pages, one insight's page and search, over one database."""

    async def insight_page(self, slug: str, insight_id: int) -> InsightPageData | None:
        """A visitor's insight page: the insight if it is public and of the community
        named `slug` (which then publishes), with its related insights. On SQLite every
        read runs in one hop on the connection's thread (knowledge.garden_sqlite): the
        page is a dozen small statements, and each costs more in hand-offs than in SQL."""
        if self._db.dialect == "sqlite":
            from knowledge.garden_sqlite import insight_page
            from knowledge.search.sqlite_fts import PAGE_TABLE
            from knowledge.sqlite_thread import read_on_thread

            return await read_on_thread(
                self._db,
                lambda connection: insight_page(connection, slug, insight_id, self.word_counts),
                PAGE_TABLE,
            )
        community = await self.community(slug)
        if community is None:
            return None
        insight = await self.insight(community.id, insight_id)
        if insight is None:
            return None
        related = await self.related(insight.card)
        return InsightPageData(community, insight, tuple(related))
