"""Insight vectors for semantic search: stored beside each insight, ranked with numpy.

Why numpy rather than a vector index: a community of practice keeps thousands of
insights, not millions, so a brute-force cosine over the rows held in memory answers in
milliseconds on SQLite and PostgreSQL alike, and needs no database extension; from
20,000 rows the table is grouped into k-means lists (knowledge/vector_lists.py) and a
question scores only the nearest ones (the lists kept in the database,
knowledge/vector_index.py). A large table that has aged is reloaded in the background
while searches use the one held. Where PostgreSQL has pgvector, the server ranks instead
(knowledge/pgvector_search.py).

Each row names the model that made it, and the insight version it describes
(`updated_at` is the insight's own), so a model change or an edit shows up in `missing`
and is back-filled rather than compared across models.

numpy is imported only when vectors are read or written, so a process that never
searches (a migration, an export) does not pay for it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import Select, func, or_, select
from sqlalchemy.exc import IntegrityError

from knowledge import pgvector_search, vector_index
from knowledge.db import Database
from knowledge.models import Insight, InsightEmbedding
from knowledge.search.query import SearchQuery
from knowledge.upsert import dialect_insert
from knowledge.vector_cache import VectorCache
from knowledge.vector_filters import in_query_scope

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

log = structlog.get_logger(__name__)

# a filtered search the nearest lists cannot answer scores only the rows that pass its
# filters when at most this many do (their ids read in SQL), else every row
PUSHDOWN_ROWS = 20_000
# Unit vectors keep three significant digits in float16: rankings do not change
# (bench/search_relevance.py) and a 256-d vector takes 512 bytes instead of 1 KiB.
STORED_DTYPE = "<f2"


@dataclass(frozen=True)
class Pending:
    """An insight whose vector is missing or older than its text."""

    insight_id: int
    text: str
    updated_at: datetime


@dataclass(frozen=True)
class Vector:
    insight_id: int
    updated_at: datetime  # the insight version the values describe
    values: Sequence[float]


def embedding_text(title: str | None, body: str) -> str:
    """What gets embedded: the title (if any) and the body, as search sees them."""
    return f"{title}\n{body}" if title else body


def _numpy() -> Any:
    try:
        import numpy
    except ImportError:  # pragma: no cover - the dev and embeddings extras bring it
        raise RuntimeError(
            "semantic search needs numpy: pip install 'hearth[embeddings]'"
        ) from None
    return numpy


def _unit(values: Sequence[float]) -> npt.NDArray[np.float32]:
    numpy = _numpy()
    array = numpy.asarray(values, dtype="<f4")
    norm = float(numpy.linalg.norm(array))
    result: npt.NDArray[np.float32] = array / norm if norm else array
    return result


class EmbeddingStore:
    def __init__(
        self, database: Database, cache: VectorCache | None = None, *, in_process: bool = False
    ) -> None:
        self._db = database
        self._cache = cache or VectorCache()
        self._reloading: dict[tuple[str, int], asyncio.Task[Any]] = {}
        # pgvector ranks where the server has it, unless `in_process` (a bench's peer)
        self._server = pgvector_search.ServerRanking(database, off=in_process)

    async def upsert(self, model: str, vectors: Sequence[Vector]) -> int:
        """Store (or replace) vectors as unit float16; returns how many were stored.

        An insight deleted meanwhile is skipped: its vector has nothing to describe.
        """
        if not vectors:
            return 0
        lists = self._lists_held(model, len(vectors[0].values))
        labels: list[int | None] = [None] * len(vectors)
        if lists is not None:  # saved in its list: the next load need not assign it
            labels = list(vector_index.assigned(lists[0], [_unit(v.values) for v in vectors]))
        rows = [
            {
                "insight_id": v.insight_id,
                "model": model,
                "dims": len(v.values),
                "vector": _unit(v.values).astype(STORED_DTYPE).tobytes(),
                "updated_at": v.updated_at,
                "list_no": label,
                "list_version": None if label is None or lists is None else lists[1],
            }
            for v, label in zip(vectors, labels, strict=True)
        ]
        async with self._db.sessions.begin() as session:
            found = await session.execute(
                select(Insight.id, Insight.community_id).where(
                    Insight.id.in_([v.insight_id for v in vectors])
                )
            )
            alive: dict[int, int] = {insight_id: community for insight_id, community in found}
            rows = [r for r in rows if r["insight_id"] in alive]
            if not rows:
                return 0
            insert = dialect_insert(session.get_bind().dialect.name)
            statement = insert(InsightEmbedding).values(rows)
            excluded = statement.excluded
            statement = statement.on_conflict_do_update(
                index_elements=["insight_id"],
                set_={
                    "model": excluded.model,
                    "dims": excluded.dims,
                    "vector": excluded.vector,
                    "updated_at": excluded.updated_at,
                    "list_no": excluded.list_no,
                    "list_version": excluded.list_version,
                },
            )
            try:
                await session.execute(statement)
                if await self._server.available():
                    await pgvector_search.write(
                        session,
                        [(r["insight_id"], _unit(v.values)) for r, v in _pairs(rows, vectors)],
                    )
            except IntegrityError:  # deleted between the check and the write: retried later
                log.info("embeddings.insight_gone", count=len(rows))
                return 0
        numpy = _numpy()
        for row in rows:
            insight_id, blob = int(str(row["insight_id"])), row["vector"]
            assert isinstance(blob, bytes)
            vector = numpy.frombuffer(blob, dtype=STORED_DTYPE)
            self._cache.put(model, len(vector), [(insight_id, alive[insight_id], vector)])
        return len(rows)

    async def missing(self, community_id: int, model: str, limit: int = 64) -> list[Pending]:
        """Insights without a vector from `model`, or whose text changed since theirs."""
        columns: Any = select(Insight.id, Insight.title, Insight.body, Insight.updated_at)
        async with self._db.sessions() as session:
            rows: Any = (
                await session.execute(
                    _stale(
                        columns,
                        community_id,
                        model,
                    )
                    .order_by(Insight.id)
                    .limit(limit)
                )
            ).all()
        return [Pending(i, embedding_text(title, body), at) for i, title, body, at in rows]

    async def count_missing(self, community_id: int, model: str) -> int:
        """How many insights `missing` would return without a limit (for a progress bar)."""
        async with self._db.sessions() as session:
            found = await session.scalar(
                _stale(select(func.count(Insight.id)), community_id, model)
            )
        return int(found or 0)

    async def nearest(
        self,
        community_id: int,
        vector: Sequence[float],
        limit: int,
        model: str,
        *,
        query: SearchQuery | None = None,
        min_similarity: float = -1.0,
    ) -> list[tuple[int, float]]:
        """The `limit` insights most similar to `vector` (cosine, best first).

        `query` applies /search's scope (its communities, siblings' shared insights, only
        `public` ones for the garden), filters (tags, author, since) and -exclusions: each
        candidate is checked in SQL before it counts, so semantic hits never include what
        full-text search would not show (the vectors themselves carry no visibility).
        """
        target = _unit(vector)
        if limit < 1 or not target.any():
            return []
        dims = len(target)
        if await self._server.available():
            scoped = partial(in_query_scope, community_id=community_id, query=query)
            return await self._server.nearest(target, model, limit, scoped, min_similarity)
        table = self._cache.current(model, dims)
        if table is None:
            table = await self._load(model, dims)
        elif self._cache.stale(table):
            if table.lists is None:  # small: reading it again takes milliseconds
                table = await self._load(model, dims)
            else:  # large: this search uses the table held while a new one loads
                self._reload_soon(model, dims)
        if query is not None and query.communities:  # the garden: these replace the scope
            communities = set(query.communities)
        else:
            communities = {community_id, *(query.shared_from if query is not None else ())}
        found, filtered = await self._ranked(
            table, target, communities, limit, community_id, query, min_similarity, exact=False
        )
        if len(found) < limit and filtered and table.lists is not None:
            # the filters left too few in the nearest lists: score every row that passes
            # them (their ids from SQL when few), or every row
            allowed = await self._passing(community_id, query)
            found, _ = await self._ranked(
                table,
                target,
                communities,
                limit,
                community_id,
                query,
                min_similarity,
                exact=True,
                allowed=allowed,
            )
        return found

    async def _passing(self, community_id: int, query: SearchQuery | None) -> Any | None:
        """The ids (int64 array) in scope that pass the query's filters, when at most
        PUSHDOWN_ROWS do; None when more (then scoring every row is as cheap)."""
        numpy = _numpy()
        ids = select(Insight.id).limit(PUSHDOWN_ROWS + 1)
        async with self._db.sessions() as session:
            found = list(await session.scalars(in_query_scope(ids, community_id, query)))
        if len(found) > PUSHDOWN_ROWS:
            return None
        return numpy.asarray(found, dtype=numpy.int64)

    async def _ranked(
        self,
        table: Any,
        target: Any,
        communities: set[int],
        limit: int,
        community_id: int,
        query: SearchQuery | None,
        min_similarity: float,
        exact: bool,
        allowed: Any | None = None,
    ) -> tuple[list[tuple[int, float]], bool]:
        """The best `limit` that pass the filters, and whether the filters dropped any."""
        numpy = _numpy()
        ids, scores = VectorCache.score(table, target, communities, allowed, exact=exact)
        keep = scores >= min_similarity
        ids, scores = ids[keep], scores[keep]
        found: list[tuple[int, float]] = []
        checked = 0
        want = limit * 4
        filtered = False
        while len(found) < limit and checked < len(ids):
            # The best `want` rows, best first (ties: the newer insight), past those checked
            count = min(len(ids), checked + want)
            top = numpy.argpartition(-scores, count - 1)[:count] if count < len(ids) else None
            pool = numpy.arange(len(ids)) if top is None else top
            ordered = pool[numpy.lexsort((-ids[pool], -scores[pool]))][checked:count]
            candidates = [int(i) for i in ids[ordered]]
            alive = await self._surviving(candidates, community_id, query)
            found.extend((int(ids[n]), float(scores[n])) for n in ordered if int(ids[n]) in alive)
            filtered = filtered or len(alive) < len(candidates)
            checked = count
            want *= 4
        return found[:limit], filtered

    async def reloaded(self) -> None:
        """Wait for the background reloads under way (tests; shutdown)."""
        while self._reloading:
            await asyncio.gather(*self._reloading.values(), return_exceptions=True)

    async def stop_reloading(self) -> None:
        """Cancel the background reloads under way (shutdown: nobody will search)."""
        tasks = list(self._reloading.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _reload_soon(self, model: str, dims: int) -> None:
        """Reload in the background (once at a time): other instances' writes show up
        without a search waiting seconds for 100k vectors and their lists."""
        if (model, dims) in self._reloading:
            return
        task = asyncio.create_task(self._load(model, dims))
        self._reloading[(model, dims)] = task
        task.add_done_callback(lambda _: self._reloading.pop((model, dims), None))

    async def _load(self, model: str, dims: int) -> Any:
        """Every stored vector of `model` into the cache, grouped by its stored lists;
        lists learnt or rows assigned here are written back for the next load."""
        started = time.monotonic()
        read = await vector_index.read(self._db, model, dims)
        table = await asyncio.to_thread(  # quantising; k-means only without stored lists
            self._cache.build_table,
            read.ids,
            read.communities,
            read.codes,
            read.stored,
            read.scales,
        )
        table = self._cache.install(model, dims, table, started)
        if table.lists is not None and table.unstored is not None:
            try:
                table.lists_version = await vector_index.store(
                    self._db,
                    model,
                    dims,
                    table.lists.centroids,
                    table.lists_version,
                    table.unstored,
                )
                table.unstored = None
            except Exception as exc:  # kept in memory; stored at a later load
                log.warning("vector_lists.store_failed", error=str(exc))
        return table

    def _lists_held(self, model: str, dims: int) -> tuple[Any, int] | None:
        """(centroids, version) of the stored lists this process holds, if any."""
        table = self._cache.current(model, dims)
        if table is None or table.lists is None or table.lists_version is None:
            return None
        return table.lists.centroids, table.lists_version

    async def _surviving(
        self, candidates: list[int], community_id: int, query: SearchQuery | None
    ) -> set[int]:
        """Which candidates still exist, in scope, and pass the query's filters."""
        if query is not None and self._db.dialect == "sqlite":
            from knowledge.search.sqlite_fts import surviving_ids
            from knowledge.sqlite_thread import read_on_thread

            return await read_on_thread(
                self._db, lambda connection: surviving_ids(connection, candidates, query)
            )
        base = in_query_scope(
            select(Insight.id).where(Insight.id.in_(candidates)), community_id, query
        )
        async with self._db.sessions() as session:
            return set(await session.scalars(base))


def _stale(base: Select[Any], community_id: int, model: str) -> Select[Any]:
    stored = InsightEmbedding
    return (
        base.outerjoin(stored, stored.insight_id == Insight.id)
        .where(Insight.community_id == community_id)
        .where(
            or_(
                stored.insight_id.is_(None),
                stored.model != model,
                stored.updated_at < Insight.updated_at,
            )
        )
    )


def _pairs(rows: list[dict[str, Any]], vectors: Sequence[Vector]) -> list[tuple[Any, Vector]]:
    """The stored rows beside the vectors they came from (rows of deleted insights gone)."""
    kept = {r["insight_id"]: r for r in rows}
    return [(kept[v.insight_id], v) for v in vectors if v.insight_id in kept]
