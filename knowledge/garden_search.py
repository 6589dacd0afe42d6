"""The garden's search: the chat /search over public insights, credited as the garden shows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from knowledge.garden_rows import GardenTables
from knowledge.search import SearchBackend, SearchPage, SearchQuery


class GardenSearch(GardenTables):
    """Search over public insights."""

    @property
    def backend(self) -> SearchBackend:
        """The store's own search (for a ranking that blends in more, e.g. by meaning)."""
        return self._search

    async def search(
        self,
        query: SearchQuery,
        community_ids: Sequence[int],
        ranker: SearchBackend | None = None,
    ) -> SearchPage:
        """The chat /search over public insights of `community_ids`: the same terms,
        filters, ranking, snippets and any-word fallback (the store's own search, asked
        for `public` only); names as the garden credits them, no chat permalinks.

        `ranker` (default: the store's search) is handed the query already restricted to
        public insights of those communities, so whatever it blends in (neighbours by
        meaning) is filtered before it is ranked and paged."""
        if not community_ids:
            return SearchPage((), 0, query.offset)
        scoped = replace(
            query,
            community_id=community_ids[0],
            communities=tuple(community_ids),
            shared_from=(),
            public_only=True,
        )
        page = await (ranker or self._search).search(scoped)
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
            if hit.insight_id in cards  # public, checked once more
        )
        return replace(page, hits=hits)
