"""What autocomplete offers while a member types: the names a channel's community uses."""

from __future__ import annotations

from dataclasses import dataclass

from knowledge.directory import Directory
from knowledge.insights import InsightStore
from knowledge.rituals import RitualStore


@dataclass(frozen=True)
class Suggestions:
    """Tag names (most used first) and ritual names, so adapters never read the store."""

    directory: Directory
    insights: InsightStore
    rituals: RitualStore

    async def names(self, kind: str, platform: str, space: str, channel: str) -> list[str]:
        """`kind` is "tags" or "rituals"; nothing for a channel of no community."""
        community = await self.directory.community_for_channel(platform, space, channel)
        if community is None:
            return []
        if kind == "tags":
            return [t.name for t in await self.insights.tag_counts(community.id)]
        return await self.rituals.names(community.id)
