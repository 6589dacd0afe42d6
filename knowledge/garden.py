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
from knowledge.garden_insights import GardenInsights
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
    "PublicCommunity",
    "PublicInsight",
    "RitualSummary",
    "SitemapEntry",
]


class GardenStore(GardenGraph, GardenListings, GardenInsights, GardenSearch):
    """The map, one community's pages, one insight's page and search, over one database."""
