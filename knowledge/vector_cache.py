"""Every vector of one model in memory, so a semantic search is one matrix product.

Why: reading 100k vectors from the database per search takes most of a second; held
here they are scored in a few milliseconds.
The table loads lazily on the first search, this process's own writes go into it at
once, and it reloads after `max_age` seconds so another instance's writes show up too.
A row whose insight was deleted meanwhile may still be scored; the search drops it when
it fetches the hits (they go through the same scope and filters in SQL).
A large table is stored grouped by nearest centroid (`knowledge/vector_lists.py`), so a
search may score only the lists closest to the question. Rows are held as int8 with a
scale each: 25 MB for 100k 256-d vectors (float32 took 100 MB, float16 past 250k rows).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from knowledge.vector_lists import MIN_ROWS, Lists, assign, grouped, train

SCORE_CHUNK = 16_384  # rows widened to float32 at a time: bounded extra memory
# stored lists are re-learnt when the table has grown this many times past the rows they
# were learnt from (√n lists: twice as many then)
RETRAIN_GROWTH = 4
# at most this share of the time goes to reloading a table (bigger tables age slower)
RELOAD_SHARE = 0.05


@dataclass
class _Table:
    ids: Any  # int64[n]
    communities: Any  # int64[n]
    vectors: Any  # int8[n, dims]: each row scaled so its largest component is ±127
    scales: Any  # float32[n]: a row's cosine with a unit target is (row @ target) * scale
    loaded_at: float
    community_ids: frozenset[int] = frozenset()  # every community with a row here
    # written by this process since the load: id -> (community, float16 vector, when)
    overlay: dict[int, tuple[int, Any, float]] = field(default_factory=dict)
    lists: Lists | None = None  # rows grouped by nearest centroid (large tables)
    community_rows: dict[int, int] = field(default_factory=dict)
    # the stored lists' version these rows were grouped by (knowledge/vector_index.py);
    # the ids whose list is not stored yet, and their list
    lists_version: int | None = None
    unstored: Any = None  # (ids int64[m], lists int64[m]) or None
    load_seconds: float = 0.0  # how long reading and building it took


@dataclass(frozen=True)
class StoredLists:
    """Centroids read from the database, and each row's list under them (-1: none yet)."""

    centroids: Any  # float32[k, dims]
    labels: Any  # int64[n], aligned with the rows
    version: int
    trained_rows: int


def quantized(matrix: Any) -> tuple[Any, Any]:
    """int8 rows and their float32 scales: a quarter of float32's memory and bandwidth;
    a cosine keeps about two significant digits (tests/test_vector_index.py: the exact
    top 30 is kept). Widened chunk by chunk: 1M float32 rows would be 1 GB."""
    import numpy

    codes = numpy.zeros(matrix.shape, dtype=numpy.int8)
    scales = numpy.zeros(len(matrix), dtype=numpy.float32)
    for start in range(0, len(matrix), SCORE_CHUNK):
        rows = numpy.asarray(matrix[start : start + SCORE_CHUNK], dtype=numpy.float32)
        peaks = numpy.abs(rows).max(axis=1) if rows.size else numpy.zeros(len(rows))
        peaks = numpy.where(peaks > 0, peaks, 1.0).astype(numpy.float32)
        codes[start : start + len(rows)] = numpy.rint(rows * (127.0 / peaks)[:, None])
        scales[start : start + len(rows)] = peaks / 127.0
    return codes, scales


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
        """Older than `max_age`, and than RELOAD_SHARE⁻¹ times its own load took: a 1M
        table read in a minute is not read again every minute (its process's own writes
        are in it at once; only other instances' wait longer)."""
        age = time.monotonic() - table.loaded_at
        if self.max_age <= 0:  # always (tests of other instances' writes)
            return True
        return age > max(self.max_age, table.load_seconds / RELOAD_SHARE)

    def load(self, model: str, dims: int, rows: Iterable[tuple[int, int, Any]]) -> _Table:
        """`rows`: (insight id, community id, float32/float16 vector) for every stored row."""
        import numpy

        listed = list(rows)
        matrix = (
            numpy.vstack([r[2] for r in listed]).astype(numpy.float32)
            if listed
            else numpy.zeros((0, dims), numpy.float32)
        )
        return self.load_arrays(
            model,
            dims,
            numpy.asarray([r[0] for r in listed], dtype=numpy.int64),
            numpy.asarray([r[1] for r in listed], dtype=numpy.int64),
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

    def build_table(
        self,
        ids: Any,
        communities: Any,
        matrix: Any,
        stored: StoredLists | None = None,
        scales: Any | None = None,
    ) -> _Table:
        """A table (with its lists when large) from arrays; touches no shared state, so
        it may run on a worker thread. `stored`: lists kept in the database, reused as
        they are (rows without one are assigned to their nearest); k-means runs only
        when there are none, or the table has grown past RETRAIN_GROWTH times the rows
        they were learnt from."""
        import numpy

        # `scales` given: `matrix` is int8 already (lists depend only on each row's
        # direction, so they are learnt and assigned from the int8 rows alike)
        codes, scales = quantized(matrix) if scales is None else (matrix, scales)
        lists = None
        version = None
        unstored = None
        large = self.lists_from is not None and len(ids) >= max(self.lists_from, 2)
        if large and stored is not None and len(ids) <= stored.trained_rows * RETRAIN_GROWTH:
            labels = numpy.array(stored.labels, dtype=numpy.int64)
            missing = numpy.flatnonzero((labels < 0) | (labels >= len(stored.centroids)))
            if len(missing):
                labels[missing] = assign(matrix[missing], stored.centroids)
                unstored = (ids[missing], labels[missing])
            lists, order = grouped(labels, stored.centroids)
            version = stored.version
        elif large:
            centroids = train(matrix, self.lists_from or MIN_ROWS)
            if centroids is not None:
                labels = assign(matrix, centroids)
                lists, order = grouped(labels, centroids)
                unstored = (ids, labels)  # every row: new lists, to be stored
        if lists is not None:
            ids, communities = ids[order], communities[order]
            codes, scales = codes[order], scales[order]
        present, counts = numpy.unique(communities, return_counts=True)
        return _Table(
            ids,
            communities,
            codes,
            scales,
            time.monotonic(),
            frozenset(int(c) for c in present),
            lists=lists,
            community_rows={int(c): int(n) for c, n in zip(present, counts, strict=True)},
            lists_version=version,
            unstored=unstored,
        )

    def install(self, model: str, dims: int, table: _Table, started: float | None) -> _Table:
        """Make `table` the one searched. `started`: when reading it began (monotonic);
        this process's writes since then stay in its overlay (the reading may have missed
        them)."""
        older = self._tables.get((model, dims))
        if older is not None and started is not None:
            table.overlay = {i: w for i, w in older.overlay.items() if w[2] >= started}
        if started is not None:
            table.load_seconds = time.monotonic() - started
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
        everything = mask is None or len(picked) == len(table.ids)
        parts = [
            _scored(table, slice(start, start + SCORE_CHUNK), target32)
            if everything
            else _scored(table, picked[start : start + SCORE_CHUNK], target32)
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
        scores = numpy.concatenate([_scored(table, slice(a, b), target32) for a, b in ranges])
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


def _scored(table: _Table, rows: Any, target32: Any) -> Any:
    """Cosines of `rows` (a slice or an index array) of the table with a unit target: one
    float32 product over the int8 rows, times each row's scale."""
    import numpy

    widened = table.vectors[rows].astype(numpy.float32)
    return (widened @ target32) * table.scales[rows]
