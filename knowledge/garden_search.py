"""The garden's search: the chat /search over public insights, credited as the garden shows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from knowledge.garden_rows import GardenTables
from knowledge.search import SearchPage, SearchQuery


class GardenSearch(GardenTables):
    """Search over public insights."""

    async def search(self, query: SearchQuery, community_ids: Sequence[int]) -> SearchPage:
        """The chat /search over public insights of `community_ids`: the same terms,
        filters, ranking, snippets and any-word fallback (the store's own search, asked
        for `public` only); names as the garden credits them, no chat permalinks."""
        if not community_ids:
            return SearchPage((), 0, query.offset)
        scoped = replace(
            query,
            community_id=community_ids[0],
            communities=tuple(community_ids),
            shared_from=(),
            public_only=True,
        )
        page = await self._search.search(scoped)
        cards = {card.id: card for card in await self.cards([h.insight_id for h in page.hits])}
        hits = tuple(
            replace(
                hit,
                title=cards[hit.insight_id].title,
                tags=cards[hit.insight_id].tags,
                author_name=cards[hit.insight_id].author_name,
                permalink=None,
            )
            for hit in page.hits
            if hit.insight_id in cards
        )
        return replace(page, hits=hits)
