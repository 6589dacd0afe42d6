"""Semantic search: insights embedded as vectors, blended with full-text hits for /search.

Why blend rather than replace: full-text search is exact and explains itself (the
highlighted words), but it needs every word and knows no synonyms; nearest neighbours
find the insight that says the same thing in other words. Reciprocal-rank fusion merges
the two rankings without comparing their incomparable scores.

Privacy: an endpoint embedder sends text off this machine, so it is used only for
communities that opted in to assist (the same rule as drafts and answers); a local model
keeps everything here and may embed any community. Embedding never blocks a capture:
if it fails, the vector is back-filled at the community's next search.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

import structlog

from bot.assist import AssistUnavailable, LanguageModel
from knowledge.embeddings import EmbeddingStore, Pending, Vector, embedding_text
from knowledge.insights import InsightStore
from knowledge.search import SearchBackend, SearchPage, SearchQuery, Terms
from knowledge.views import CommunityInfo, InsightView

log = structlog.get_logger(__name__)

CANDIDATES = 30  # how deep each ranking is read before fusing
RRF_K = 60  # the usual reciprocal-rank-fusion constant: dampens the top ranks' weight
BACKFILL_PER_SEARCH = 256
BACKFILL_EVERY = 60.0  # seconds between looks for missing vectors, per community
# Full text that had to fall back to any of the words is weak evidence: paraphrased
# questions share little words like "people" with unrelated insights. It adds nothing to
# the fusion: its hits follow the neighbours' in its own order (bench/search_relevance.py,
# MiniLM: hybrid recall@5 0.78 at weight 0.5, 0.835 at 0, on either half of the questions).
RELAXED_WEIGHT = 0.0
WORDS_FOUND_MARGIN = 0.1  # how much more similar a neighbour must be when every word matched


class EmbeddingFailed(Exception):
    """The embedder could not produce vectors; search falls back to full text."""


class Embedder(Protocol):
    @property
    def name(self) -> str:
        """Names the model: vectors of different names are never compared."""

    @property
    def local(self) -> bool:
        """True if text never leaves this machine (no community opt-in needed)."""

    async def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


class EndpointEmbedder:
    """The assist endpoint's embeddings API (OpenAI, or e.g. a self-hosted Ollama)."""

    local = False

    def __init__(self, model: LanguageModel, embedding_model: str) -> None:
        self._model = model
        self.name = f"endpoint:{embedding_model}"

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        try:
            return await self._model.embed(texts)
        except AssistUnavailable as exc:
            raise EmbeddingFailed(str(exc)) from exc


def fuse(
    rankings: Sequence[Sequence[int]], k: int = RRF_K, weights: Sequence[float] = ()
) -> list[int]:
    """Reciprocal-rank fusion: each list adds weight/(k + rank); ties keep first-list order."""
    scores: dict[int, float] = {}
    for n, ranking in enumerate(rankings):
        weight = weights[n] if n < len(weights) else 1.0
        for rank, insight_id in enumerate(ranking, start=1):
            scores[insight_id] = scores.get(insight_id, 0.0) + weight / (k + rank)
    order = {i: n for n, i in enumerate(dict.fromkeys(i for r in rankings for i in r))}
    return sorted(scores, key=lambda i: (-scores[i], order[i]))


class SemanticIndex:
    def __init__(
        self,
        embedder: Embedder,
        store: EmbeddingStore,
        insights: InsightStore,
        opted_in: frozenset[str],
        min_similarity: float = 0.3,
    ) -> None:
        self.embedder = embedder
        self._store = store
        self._insights = insights
        self._opted_in = opted_in
        self._min_similarity = min_similarity
        self._backfilled: dict[int, float] = {}  # community id -> when it last caught up
        self._indexing: set[asyncio.Task[int]] = set()  # saves being embedded meanwhile

    def enabled_for(self, community: CommunityInfo) -> bool:
        return self.embedder.local or community.slug in self._opted_in

    async def index(self, community: CommunityInfo, insights: Sequence[InsightView]) -> int:
        """Embed new or edited insights now; on failure leave them to the back-fill."""
        pending = [Pending(i.id, embedding_text(i.title, i.body), i.updated_at) for i in insights]
        if not pending or not self.enabled_for(community):
            return 0
        try:
            return await self._embed_and_store(pending)
        except EmbeddingFailed as exc:
            log.warning("semantic.index_failed", community=community.slug, reason=str(exc))
            return 0

    def index_soon(self, community: CommunityInfo, insights: Sequence[InsightView]) -> None:
        """`index` in the background: the save's reply does not wait for the embedding
        (nor for the model's first load). This process's next search waits for it, so
        what was just saved is found by meaning; a crash meanwhile leaves it to the
        back-fill and `hearth reindex`."""
        task = asyncio.create_task(self.index(community, insights))
        self._indexing.add(task)
        task.add_done_callback(self._indexing.discard)

    async def settle(self) -> None:
        """Wait for the saves still being embedded (before a search, and at shutdown)."""
        while self._indexing:
            await asyncio.gather(*self._indexing, return_exceptions=True)

    async def close(self) -> None:
        """At shutdown: the saves still being embedded finish; a background reload of
        the vectors is no longer needed and stops."""
        await self.settle()
        await self._store.stop_reloading()

    async def count_missing(self, community: CommunityInfo) -> int:
        """Insights of the community without a current vector from this embedder."""
        return await self._store.count_missing(community.id, self.embedder.name)

    async def backfill(self, community: CommunityInfo, limit: int = BACKFILL_PER_SEARCH) -> int:
        """Embed up to `limit` insights that have no (current) vector; raises EmbeddingFailed."""
        if not self.enabled_for(community):
            return 0
        return await self._backfill(community.id, limit)

    async def backfill_community(self, community_id: int, limit: int = BACKFILL_PER_SEARCH) -> int:
        """`backfill` by id: a sibling's shared insights, searched with scope:constellation,
        only with a local model (an endpoint embeds only what its own community opted in)."""
        return await self._backfill(community_id, limit) if self.embedder.local else 0

    async def _backfill(self, community_id: int, limit: int) -> int:
        done = 0
        while done < limit:
            pending = await self._store.missing(
                community_id, self.embedder.name, min(64, limit - done)
            )
            if not pending:
                break
            stored = await self._embed_and_store(pending)
            done += len(pending)
            if stored == 0:
                break  # everything vanished meanwhile: do not spin
        return done

    async def search(
        self, backend: SearchBackend, query: SearchQuery, community: CommunityInfo
    ) -> SearchPage:
        """Full-text results blended with nearest neighbours; plain full text when the
        community may not use this embedder, the query has no words, or embedding fails.

        Both legs see the same scope (the community's own insights, and with
        `scope:constellation` its siblings' shared ones) and the same filters; a hit
        only the neighbours found says so (`matched="meaning"`)."""
        if query.terms.empty or not self.enabled_for(community):
            return await backend.search(query)
        depth = max(CANDIDATES, query.offset + query.limit)
        text = " ".join([*query.terms.words, *query.terms.phrases])
        await self.settle()
        try:
            others = [c for c in (query.communities or query.shared_from) if c != community.id]
            await self._backfill_now_and_then(community, others)
        except EmbeddingFailed as exc:
            log.warning("semantic.search_failed", community=community.slug, reason=str(exc))
            return await backend.search(query)
        # The question is embedded (a model run on a worker thread) while full text runs
        # on the database's: the search waits for the slower of the two, not for both.
        embedding = asyncio.ensure_future(self.embedder.embed([text]))
        try:
            full_text = await backend.search(replace(query, limit=depth, offset=0))
        except BaseException:
            embedding.cancel()
            raise
        try:
            [vector] = await embedding
        except EmbeddingFailed as exc:
            log.warning("semantic.search_failed", community=community.slug, reason=str(exc))
            return await backend.search(query)
        neighbours = await self._store.nearest(
            community.id,
            vector,
            depth,
            self.embedder.name,
            query=query,
            min_similarity=self._min_similarity,
        )
        if full_text.hits and not full_text.relaxed:
            # every word matched somewhere: a neighbour beside those must be clearly
            # similar to be worth showing (a lone "reviews" found "Ship small, ship often")
            bar = self._min_similarity + WORDS_FOUND_MARGIN
            neighbours = [(i, score) for i, score in neighbours if score >= bar]
        fts_ids = [h.insight_id for h in full_text.hits]
        weight = RELAXED_WEIGHT if full_text.relaxed else 1.0
        fused = fuse([fts_ids, [i for i, _ in neighbours]], weights=(weight, 1.0))
        extras = tuple(i for i in fused if i not in set(fts_ids))
        extra = len(extras)
        if extras and full_text.total > len(fts_ids):
            # Full text matched beyond `depth`: a neighbour may be one of those matches,
            # and counting it twice would promise more insights than there are.
            check = await backend.search(
                replace(query, only_ids=extras, limit=1, offset=0, relaxed=full_text.relaxed)
            )
            widened = check.relaxed and not full_text.relaxed  # no extra had every word
            extra -= 0 if widened else check.total
        total = full_text.total + extra
        shown = fused[query.offset : query.offset + query.limit]
        known = {h.insight_id: h for h in full_text.hits}
        wanted = tuple(i for i in shown if i not in known)
        if wanted:  # fetched as hits through the same scope and filters
            fetched = await backend.search(
                replace(
                    query,
                    terms=Terms(),
                    only_ids=wanted,
                    limit=len(wanted),
                    offset=0,
                    relaxed=False,
                )
            )
            for hit in fetched.hits:
                known[hit.insight_id] = replace(hit, matched="meaning")
        hits = tuple(known[i] for i in shown if i in known)  # gone meanwhile: skipped
        return SearchPage(
            hits, total, query.offset, relaxed=full_text.relaxed, capped=full_text.capped
        )

    async def _backfill_now_and_then(
        self, community: CommunityInfo, siblings: Sequence[int]
    ) -> None:
        """Back-fill at most every BACKFILL_EVERY seconds per community: looking for what
        is missing reads every insight of it (O(N)), and saves embed at once anyway."""
        now = time.monotonic()
        for community_id in (community.id, *siblings):
            last = self._backfilled.get(community_id)
            if last is not None and now - last < BACKFILL_EVERY:
                continue
            if community_id == community.id:
                done = await self.backfill(community)
            else:
                done = await self.backfill_community(community_id)
            if done < BACKFILL_PER_SEARCH:  # caught up; otherwise go on at the next search
                self._backfilled[community_id] = now

    async def _embed_and_store(self, pending: Sequence[Pending]) -> int:
        vectors = await self.embedder.embed([p.text for p in pending])
        if len(vectors) != len(pending):
            raise EmbeddingFailed("the embedder returned a different number of vectors")
        return await self._store.upsert(
            self.embedder.name,
            [Vector(p.insight_id, p.updated_at, v) for p, v in zip(pending, vectors, strict=True)],
        )
