"""Every vector of one model in memory, so a semantic search is one matrix product.

Why: reading 100k vectors from the database per search takes most of a second; held
here they are scored in a few milliseconds.
The table loads lazily on the first search, this process's own writes go into it at
once, and it reloads after `max_age` seconds so another instance's writes show up too.
A row whose insight was deleted meanwhile may still be scored; the search drops it when
it fetches the hits (they go through the same scope and filters in SQL).
A large table is stored grouped by nearest centroid (`knowledge/vector_lists.py`), so a
search may score only the lists closest to the question.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from knowledge.vector_lists import MIN_ROWS, Lists, build

LOAD_BATCH = 20_000
SCORE_CHUNK = 16_384  # rows widened to float32 at a time: bounded extra memory
FLOAT32_ROWS = 250_000  # up to here 1 KiB per 256-d vector in memory (250 MB at most)


@dataclass
class _Table:
    ids: Any  # int64[n]
    communities: Any  # int64[n]
    vectors: Any  # float32[n, dims], or float16 past FLOAT32_ROWS
    loaded_at: float
    community_ids: frozenset[int] = frozenset()  # every community with a row here
    # written by this process since the load: id -> (community, float16 vector, when)
    overlay: dict[int, tuple[int, Any, float]] = field(default_factory=dict)
    lists: Lists | None = None  # rows grouped by nearest centroid (large tables)
    community_rows: dict[int, int] = field(default_factory=dict)


class VectorCache:
    def __init__(self, max_age: float = 60.0, lists_from: int | None = MIN_ROWS) -> None:
        self.max_age = max_age
        # tables of this many rows get vector lists; None: always score every row
        self.lists_from = lists_from
        self._tables: dict[tuple[str, int], _Table] = {}

    def fresh(self, model: str, dims: int) -> _Table | None:
        table = self._tables.get((model, dims))
        if table is None or self.stale(table):
            return None
        return table

    def current(self, model: str, dims: int) -> _Table | None:
        """The table held, however old (a search may use it while a new one loads)."""
        return self._tables.get((model, dims))

    def stale(self, table: _Table) -> bool:
        return time.monotonic() - table.loaded_at > self.max_age

    def load(self, model: str, dims: int, rows: Iterable[tuple[int, int, Any]]) -> _Table:
        """`rows`: (insight id, community id, float32/float16 vector) for every stored row."""
        import numpy

        ids: list[int] = []
        communities: list[int] = []
        vectors: list[Any] = []
        for insight_id, community_id, vector in rows:
            ids.append(insight_id)
            communities.append(community_id)
            vectors.append(vector)
        # float32 scores through BLAS in a few ms; past FLOAT32_ROWS, float16 halves the
        # memory (512 bytes per 256-d row) and is widened chunk by chunk when scored.
        dtype = numpy.float32 if len(vectors) <= FLOAT32_ROWS else numpy.float16
        matrix = numpy.vstack(vectors).astype(dtype) if vectors else numpy.zeros((0, dims), dtype)
        return self.load_arrays(
            model,
            dims,
            numpy.asarray(ids, dtype=numpy.int64),
            numpy.asarray(communities, dtype=numpy.int64),
            matrix,
        )

    def load_arrays(
        self,
        model: str,
        dims: int,
        ids: Any,
        communities: Any,
        matrix: Any,
        started: float | None = None,
    ) -> _Table:
        """`load` from arrays already built (ids, communities: int64[n]; matrix: [n, dims]),
        without a Python object per row: 100k rows load in a fraction of the time."""
        return self.install(model, dims, self.build_table(ids, communities, matrix), started)

    def build_table(self, ids: Any, communities: Any, matrix: Any) -> _Table:
        """A table (with its lists when large) from arrays; touches no shared state, so
        it may run on a worker thread (seconds at 100k)."""
        import numpy

        dtype = numpy.float32 if len(ids) <= FLOAT32_ROWS else numpy.float16
        matrix = matrix.astype(dtype, copy=False)
        grouped = None if self.lists_from is None else build(matrix, self.lists_from)
        lists = None
        if grouped is not None:
            lists, order = grouped
            ids, communities, matrix = ids[order], communities[order], matrix[order]
        present, counts = numpy.unique(communities, return_counts=True)
        return _Table(
            ids,
            communities,
            matrix,
            time.monotonic(),
            frozenset(int(c) for c in present),
            lists=lists,
            community_rows={int(c): int(n) for c, n in zip(present, counts, strict=True)},
        )

    def install(self, model: str, dims: int, table: _Table, started: float | None) -> _Table:
        """Make `table` the one searched. `started`: when reading it began (monotonic);
        this process's writes since then stay in its overlay (the reading may have missed
        them)."""
        older = self._tables.get((model, dims))
        if older is not None and started is not None:
            table.overlay = {i: w for i, w in older.overlay.items() if w[2] >= started}
        self._tables[(model, dims)] = table
        return table

    def put(self, model: str, dims: int, rows: Iterable[tuple[int, int, Any]]) -> None:
        """This process stored these vectors: searches see them at once."""
        table = self._tables.get((model, dims))
        if table is None:
            return  # loaded with them on the first search
        for insight_id, community_id, vector in rows:
            table.overlay[insight_id] = (community_id, vector, time.monotonic())

    def forget(self) -> None:
        self._tables.clear()

    @staticmethod
    def score(
        table: _Table,
        target: Any,
        communities: set[int] | None,
        allowed: Any | None,
        exact: bool = True,
    ) -> tuple[Any, Any]:
        """(ids, cosine scores) of the rows in `communities` (or all), restricted to the ids
        in `allowed` when given; the overlay replaces the rows it has. Not `exact`: only
        the rows in the lists nearest to `target` (all rows when the table has none)."""
        import numpy

        if not exact and table.lists is not None and allowed is None:
            searched = sum(table.community_rows.get(c, 0) for c in communities or ())
            if communities is None or searched * 2 >= len(table.ids):
                return VectorCache._score_lists(table, table.lists, target, communities)
            # a small share of the table: scoring its rows alone is cheaper and exact

        mask: Any = None  # None: every row (what a one-community database always has)

        def narrow(keep: Any) -> None:
            nonlocal mask
            mask = keep if mask is None else mask & keep

        if communities is not None and not table.community_ids <= communities:
            narrow(numpy.isin(table.communities, numpy.fromiter(communities, numpy.int64)))
        if allowed is not None:
            narrow(numpy.isin(table.ids, allowed))
        if table.overlay:
            narrow(~numpy.isin(table.ids, numpy.fromiter(table.overlay, numpy.int64)))
        picked = numpy.arange(len(table.ids)) if mask is None else numpy.flatnonzero(mask)
        target32 = target.astype(numpy.float32)
        if table.vectors.dtype == numpy.float32:
            everything = mask is None or len(picked) == len(table.ids)
            rows = table.vectors if everything else table.vectors[picked]
            parts = [rows @ target32]
        else:
            parts = [
                table.vectors[picked[start : start + SCORE_CHUNK]].astype(numpy.float32) @ target32
                for start in range(0, len(picked), SCORE_CHUNK)
            ]
        ids = table.ids if mask is None else table.ids[picked]
        scores = numpy.concatenate(parts) if parts else numpy.zeros(0, dtype=numpy.float32)
        return VectorCache._with_overlay(table, ids, scores, target32, communities, allowed)

    @staticmethod
    def _score_lists(
        table: _Table, lists: Lists, target: Any, communities: set[int] | None
    ) -> tuple[Any, Any]:
        """The probed lists' rows: each a contiguous slice, scored in place, then the
        rows of other communities and those the overlay replaces are dropped."""
        import numpy

        target32 = target.astype(numpy.float32)
        ranges = lists.ranges_for(target32)
        if not ranges:
            empty = numpy.zeros(0, dtype=numpy.int64)
            return VectorCache._with_overlay(
                table, empty, empty.astype(numpy.float32), target32, communities, None
            )
        scores = numpy.concatenate(
            [table.vectors[a:b].astype(numpy.float32, copy=False) @ target32 for a, b in ranges]
        )
        ids = numpy.concatenate([table.ids[a:b] for a, b in ranges])
        keep: Any = None
        if communities is not None and not table.community_ids <= communities:
            rows = numpy.concatenate([table.communities[a:b] for a, b in ranges])
            keep = numpy.isin(rows, numpy.fromiter(communities, numpy.int64))
        if table.overlay:
            fresh = ~numpy.isin(ids, numpy.fromiter(table.overlay, numpy.int64))
            keep = fresh if keep is None else keep & fresh
        if keep is not None:
            ids, scores = ids[keep], scores[keep]
        return VectorCache._with_overlay(table, ids, scores, target32, communities, None)

    @staticmethod
    def _with_overlay(
        table: _Table,
        ids: Any,
        scores: Any,
        target32: Any,
        communities: set[int] | None,
        allowed: Any | None,
    ) -> tuple[Any, Any]:
        """Adds this process's own writes since the load (always scored exactly)."""
        import numpy

        extra = [
            (insight_id, community_id, vector)
            for insight_id, (community_id, vector, _) in table.overlay.items()
            if (communities is None or community_id in communities)
            and (allowed is None or insight_id in set(allowed.tolist()))
        ]
        if extra:
            ids = numpy.concatenate([ids, numpy.asarray([e[0] for e in extra], numpy.int64)])
            more = numpy.vstack([e[2] for e in extra]).astype(numpy.float32) @ target32
            scores = numpy.concatenate([scores, more])
        return ids, scores
