"""Vector lists kept in the database: a restart reads them instead of learning them again.

Why: learning the k-means lists and assigning every row to one took 2 s at 100k and
most of a minute at 1M (knowledge/vector_lists.py), at every start and every reload.
The centroids are stored once per model (`vector_lists`, with a random `version`), and
each vector row keeps its list (`insight_embeddings.list_no`, valid while its
`list_version` is the stored one). A vector saved while a process holds the lists is
assigned at once (`assigned`); a row without a current list (saved before any lists,
or by a process that had not loaded them) is assigned when the table is next read and
written back. Centroids and every row's list are written in one transaction, so two
processes learning lists at once leave one consistent set.

Rows are read straight through sqlite3 on the connection's thread (SQLite) or in keyset
batches (PostgreSQL), into numpy arrays batch by batch: 100k rows in a quarter second,
where SQLAlchemy rows took seconds.
"""

from __future__ import annotations

import random
import sqlite3
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import bindparam, text, update

from knowledge.db import Database
from knowledge.models import InsightEmbedding, VectorListSet
from knowledge.upsert import dialect_insert
from knowledge.vector_cache import StoredLists, quantized
from knowledge.vector_lists import assign

log = structlog.get_logger(__name__)

READ_BATCH = 20_000
WRITE_BATCH = 20_000
STORED_DTYPE = "<f2"

_ROWS = (
    "SELECT e.insight_id, i.community_id,"
    " CASE WHEN e.list_version = :version THEN e.list_no ELSE -1 END, e.vector"
    " FROM insight_embeddings AS e JOIN insights AS i ON i.id = e.insight_id"
    " WHERE e.model = :model AND e.dims = :dims AND e.insight_id > :after"
    " ORDER BY e.insight_id LIMIT :batch"
)
_LISTS = (
    "SELECT centroids, version, trained_rows FROM vector_lists"
    " WHERE model = :model AND dims = :dims"
)


@dataclass
class Read:
    """Every stored vector of one model, as arrays (rows in insight id order)."""

    ids: Any  # int64[n]
    communities: Any  # int64[n]
    codes: Any  # int8[n, dims], quantised batch by batch (1M float16 rows are 512 MB)
    scales: Any  # float32[n]
    stored: StoredLists | None  # the stored lists and each row's list under them


class _Batches:
    """Accumulates fetched rows as numpy arrays, one batch at a time."""

    def __init__(self, dims: int) -> None:
        self.dims = dims
        self.ids: list[Any] = []
        self.communities: list[Any] = []
        self.labels: list[Any] = []
        self.codes: list[Any] = []
        self.scales: list[Any] = []

    def add(self, rows: list[Any]) -> int:
        """Adds a batch; returns the last insight id (0 when empty)."""
        import numpy

        if not rows:
            return 0
        count = len(rows)
        self.ids.append(numpy.fromiter((r[0] for r in rows), numpy.int64, count))
        self.communities.append(numpy.fromiter((r[1] for r in rows), numpy.int64, count))
        self.labels.append(numpy.fromiter((r[2] for r in rows), numpy.int64, count))
        codes, scales = quantized(_matrix([bytes(r[3]) for r in rows], self.dims))
        self.codes.append(codes)
        self.scales.append(scales)
        return int(rows[-1][0])

    def read(self, lists: Any) -> Read:
        import numpy

        if not self.ids:
            empty = numpy.zeros(0, numpy.int64)
            nothing = numpy.zeros((0, self.dims), numpy.int8)
            return Read(empty, empty, nothing, numpy.zeros(0, numpy.float32), None)
        stored = None
        if lists is not None:
            centroids = numpy.frombuffer(bytes(lists[0]), "<f4").reshape(-1, self.dims)
            labels = numpy.concatenate(self.labels)
            stored = StoredLists(centroids, labels, int(lists[1]), int(lists[2]))
        return Read(
            numpy.concatenate(self.ids),
            numpy.concatenate(self.communities),
            numpy.concatenate(self.codes),
            numpy.concatenate(self.scales),
            stored,
        )


async def read(database: Database, model: str, dims: int) -> Read:
    """Every vector of `model`, each row's stored list, and the lists themselves."""
    if database.dialect == "sqlite":
        from knowledge.sqlite_thread import read_on_thread

        return await read_on_thread(database, lambda c: _read_sqlite(c, model, dims))
    batches = _Batches(dims)
    async with database.sessions() as session:
        lists = (await session.execute(text(_LISTS), {"model": model, "dims": dims})).first()
    version = int(lists[1]) if lists is not None else -1
    after = 0
    while True:
        async with database.sessions() as session:
            rows = (
                await session.execute(
                    text(_ROWS),
                    {
                        "version": version,
                        "model": model,
                        "dims": dims,
                        "after": after,
                        "batch": READ_BATCH,
                    },
                )
            ).all()
        after = batches.add(list(rows))
        if len(rows) < READ_BATCH:
            return batches.read(lists)


def _read_sqlite(connection: sqlite3.Connection, model: str, dims: int) -> Read:
    lists = connection.execute(_LISTS, {"model": model, "dims": dims}).fetchone()
    version = int(lists[1]) if lists is not None else -1
    batches = _Batches(dims)
    after = 0
    while True:
        params = {
            "version": version,
            "model": model,
            "dims": dims,
            "after": after,
            "batch": READ_BATCH,
        }
        rows = connection.execute(_ROWS, params).fetchall()
        after = batches.add(rows)
        if len(rows) < READ_BATCH:
            return batches.read(lists)


async def store(
    database: Database, model: str, dims: int, centroids: Any, version: int | None, rows: Any
) -> int:
    """Writes each of `rows` (ids int64[m], lists int64[m]) list under `centroids`; with
    `version` None the centroids are new and stored first, in the same transaction.
    Returns the version the rows now belong to."""
    ids, labels = rows
    fresh = version is None
    if version is None:
        version = random.randrange(1, 2**31)
    async with database.sessions.begin() as session:
        if fresh:
            insert = dialect_insert(database.dialect)
            values = {
                "model": model,
                "dims": dims,
                "centroids": centroids.astype("<f4").tobytes(),
                "version": version,
                "trained_rows": len(ids),
            }
            statement = insert(VectorListSet).values(values)
            await session.execute(
                statement.on_conflict_do_update(
                    index_elements=["model", "dims"],
                    set_={k: statement.excluded[k] for k in values if k not in ("model", "dims")},
                )
            )
        table: Any = InsightEmbedding.__table__  # Core: an executemany by row id
        change = (
            update(table)
            .where(table.c.insight_id == bindparam("row_id"))
            .values(list_no=bindparam("row_list"), list_version=version)
        )
        for start in range(0, len(ids), WRITE_BATCH):
            chunk = [
                {"row_id": int(i), "row_list": int(n)}
                for i, n in zip(
                    ids[start : start + WRITE_BATCH],
                    labels[start : start + WRITE_BATCH],
                    strict=True,
                )
            ]
            await session.execute(change, chunk)
    log.info("vector_lists.stored", model=model, rows=len(ids), new=fresh)
    return version


def assigned(centroids: Any, vectors: Any) -> list[int]:
    """The list of each new vector (float16/float32 rows) under `centroids`."""
    return [int(n) for n in assign(vectors, centroids)]


def _matrix(blobs: list[bytes], dims: int) -> Any:
    """Rows of float16 (written since issue 16) or float32 (before), as float16."""
    import numpy

    if all(len(b) == dims * 2 for b in blobs):
        return numpy.frombuffer(b"".join(blobs), dtype=STORED_DTYPE).reshape(len(blobs), dims)
    return numpy.vstack(
        [numpy.frombuffer(b, dtype=STORED_DTYPE if len(b) == dims * 2 else "<f4") for b in blobs]
    ).astype(STORED_DTYPE)
