"""Vectors grouped by their nearest centroid, so a search scores a few groups, not all.

Why: scoring every vector is a pass over the whole matrix per question (100k × 384
float32 is 150 MB: tens of milliseconds, more on a busy machine, and ten times that at
1M). Spherical k-means puts each unit vector in one of about √n lists; a question is
compared with the centroids and only the closest lists' rows are scored (an inverted
file, "IVF"). It is approximate: a neighbour whose list was not probed is missed, which
`bench/hybrid_search.py` measures against the exact ranking. Learnt with numpy (no index
library) and kept in the database (knowledge/vector_index.py), so a restart only reads
them; a table smaller than `MIN_ROWS` is scored exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

MIN_ROWS = 20_000  # below this an exact pass takes a few milliseconds anyway
PROBE_SHARE = 0.08  # the share of lists a question reads (rows scored: about as much)
MIN_PROBES = 8
ITERATIONS = 6
SAMPLE_PER_LIST = 40  # k-means learns from this many rows per list (not from all)
ASSIGN_CHUNK = 16_384
SEED = 16


@dataclass(frozen=True)
class Lists:
    """The table's rows are stored grouped by list: list n is rows
    `offsets[n]:offsets[n + 1]`, so a probe reads contiguous rows (no gather)."""

    centroids: Any  # float32[k, dims], unit rows
    offsets: Any  # int64[k + 1]

    @property
    def probes(self) -> int:
        count = len(self.centroids)
        return min(count, max(MIN_PROBES, math.ceil(count * PROBE_SHARE)))

    def ranges_for(self, target: Any) -> list[tuple[int, int]]:
        """(start, stop) row ranges of the lists closest to `target` (a unit vector)."""
        import numpy

        similarity = self.centroids @ target
        probes = self.probes
        if probes < len(similarity):
            closest = numpy.argpartition(-similarity, probes - 1)[:probes]
        else:
            closest = numpy.arange(len(similarity))
        closest.sort()  # read the rows front to back
        bounds = self.offsets
        return [(int(bounds[n]), int(bounds[n + 1])) for n in closest if bounds[n + 1] > bounds[n]]


def train(vectors: Any, min_rows: int = MIN_ROWS) -> Any | None:
    """Unit centroids (float32[k, dims]) for a [n, dims] matrix of unit rows, learnt from a
    sample; None when the table is small."""
    import numpy

    rows = len(vectors)
    if rows < max(min_rows, 2):
        return None
    count = max(2, min(4096, round(math.sqrt(rows))))
    rng = numpy.random.default_rng(SEED)
    sample_rows = numpy.sort(rng.choice(rows, min(rows, count * SAMPLE_PER_LIST), replace=False))
    sample = _widened(vectors[sample_rows])
    norms = numpy.linalg.norm(sample, axis=1, keepdims=True)
    sample /= numpy.where(norms > 0, norms, 1.0)  # int8 rows are not unit length
    centroids = sample[rng.choice(len(sample), count, replace=False)].copy()
    for _ in range(ITERATIONS):
        labels = numpy.argmax(sample @ centroids.T, axis=1)
        sums = numpy.zeros_like(centroids)
        numpy.add.at(sums, labels, sample)
        sizes = numpy.bincount(labels, minlength=count)
        empty = sizes == 0
        if empty.any():  # an empty list restarts from a random row
            sums[empty] = sample[rng.choice(len(sample), int(empty.sum()), replace=False)]
        norms = numpy.linalg.norm(sums, axis=1, keepdims=True)
        centroids = (sums / numpy.where(norms > 0, norms, 1.0)).astype(numpy.float32)
    return centroids


def assign(vectors: Any, centroids: Any) -> Any:
    """Each row's nearest centroid (int64[n]): the list it belongs to."""
    import numpy

    if len(vectors) == 0:
        return numpy.zeros(0, dtype=numpy.int64)
    return numpy.concatenate(
        [
            numpy.argmax(_widened(vectors[start : start + ASSIGN_CHUNK]) @ centroids.T, axis=1)
            for start in range(0, len(vectors), ASSIGN_CHUNK)
        ]
    ).astype(numpy.int64)


def grouped(labels: Any, centroids: Any) -> tuple[Lists, Any]:
    """The lists for rows labelled `labels`, and the order (int64[n]) to put the rows in."""
    import numpy

    count = len(centroids)
    order = numpy.argsort(labels, kind="stable").astype(numpy.int64)
    offsets = numpy.zeros(count + 1, dtype=numpy.int64)
    numpy.cumsum(numpy.bincount(labels, minlength=count), out=offsets[1:])
    return Lists(numpy.asarray(centroids, numpy.float32), offsets), order


def build(vectors: Any, min_rows: int = MIN_ROWS) -> tuple[Lists, Any] | None:
    """Lists for a [n, dims] matrix of unit rows (float32 or float16), and the order
    (int64[n]) the caller must put its rows in; None when the table is small."""
    centroids = train(vectors, min_rows)
    if centroids is None:
        return None
    return grouped(assign(vectors, centroids), centroids)


def _widened(rows: Any) -> Any:
    """float32 rows for BLAS (int8 rows keep their direction: a nearest centroid by dot
    product does not depend on each row's scale)."""
    import numpy

    return numpy.asarray(rows, dtype=numpy.float32)
