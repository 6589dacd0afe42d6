"""Nearest neighbours ranked by PostgreSQL itself, where the server has pgvector.

Why: in process every vector is read into memory (hundreds of MB at 1M) and each
instance keeps its own copy; pgvector's HNSW index answers from the server's pages.
Migration 0016 adds the `embedding vector` column and an HNSW index per packaged
model's dimension (a partial expression index, `embedding::vector(d) … WHERE dims = d`)
when the extension can be created; otherwise nothing here is used and
knowledge/embeddings.py ranks in process as on SQLite.

The float16 bytes stay the stored truth; the column is a copy written with them (and
filled once from them for rows stored before the extension). Scope and filters are
applied in the same statement; HNSW looks at `ef_search` candidates and drops those
that fail the filters, so when too few survive the statement runs again without the
index (an exact scan of the rows that pass), the same fallback as in process.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import structlog
from sqlalchemy import Float, Select, bindparam, cast, literal_column, select, text
from sqlalchemy.types import UserDefinedType

from knowledge.db import Database
from knowledge.models import Insight, InsightEmbedding
from knowledge.schema_extras import PGVECTOR_COLUMN

log = structlog.get_logger(__name__)

FILL_BATCH = 2_000
MAX_EF_SEARCH = 1_000  # pgvector's own limit
EF_FLOOR = 40  # pgvector's default ef_search
EF_PER_RESULT = 4  # candidates the index walks per result wanted

_HAS_COLUMN = (
    "SELECT EXISTS (SELECT 1 FROM information_schema.columns"
    " WHERE table_name = 'insight_embeddings' AND column_name = :column"
    " AND table_schema = current_schema())"
)
_WRITE = (
    f"UPDATE insight_embeddings SET {PGVECTOR_COLUMN} = CAST(:v AS vector) WHERE insight_id = :i"
)
_UNFILLED = (
    f"SELECT insight_id, vector FROM insight_embeddings WHERE {PGVECTOR_COLUMN} IS NULL"
    " AND model = :model AND dims = :dims LIMIT :batch"
)


class _Vector(UserDefinedType[Any]):
    """pgvector's `vector(d)`, only to CAST to (values travel as text)."""

    cache_ok = True

    def __init__(self, dims: int) -> None:
        self.dims = dims

    def get_col_spec(self, **_: Any) -> str:
        return f"vector({self.dims})"


class ServerRanking:
    """One store's use of pgvector: whether the server has it (asked once), and which
    models' rows have had their column filled."""

    def __init__(self, database: Database, off: bool = False) -> None:
        self._db = database
        self._available: bool | None = False if off else None
        self._filled: set[tuple[str, int]] = set()

    async def available(self) -> bool:
        if self._available is None:
            self._available = await available(self._db)
        return self._available

    async def nearest(
        self,
        target: Any,
        model: str,
        limit: int,
        scoped: Callable[[Select[Any]], Select[Any]],
        min_similarity: float,
    ) -> list[tuple[int, float]]:
        """`nearest` below, after filling the column of rows stored before it existed."""
        dims = len(target)
        if (model, dims) not in self._filled:
            await fill(self._db, model, dims, partial(_decoded, dims=dims))
            self._filled.add((model, dims))
        return await nearest(self._db, target, model, limit, scoped, min_similarity)


def _decoded(blob: bytes, dims: int) -> Any:
    """A stored vector: float16 bytes (float32 before issue 16)."""
    import numpy

    return numpy.frombuffer(blob, dtype="<f2" if len(blob) == dims * 2 else "<f4")


async def available(database: Database) -> bool:
    """True on PostgreSQL when migration 0018 found pgvector and added its column."""
    if database.dialect != "postgresql":
        return False
    async with database.sessions() as session:
        return bool(await session.scalar(text(_HAS_COLUMN), {"column": PGVECTOR_COLUMN}))


def literal(values: Any) -> str:
    """pgvector's text form of a vector: `[0.1,0.2,…]`."""
    return "[" + ",".join(f"{float(x):.6g}" for x in values) + "]"


async def write(session: Any, rows: Sequence[tuple[int, Any]]) -> None:
    """Copies (insight id, unit vector) into the vector column, in the caller's transaction."""
    if rows:
        await session.execute(text(_WRITE), [{"i": i, "v": literal(v)} for i, v in rows])


async def fill(database: Database, model: str, dims: int, decode: Callable[[bytes], Any]) -> int:
    """Writes the vector column of rows stored before it existed; returns how many."""
    done = 0
    while True:
        async with database.sessions.begin() as session:
            rows = (
                await session.execute(
                    text(_UNFILLED), {"model": model, "dims": dims, "batch": FILL_BATCH}
                )
            ).all()
            await write(session, [(int(i), decode(bytes(blob))) for i, blob in rows])
        done += len(rows)
        if len(rows) < FILL_BATCH:
            if done:
                log.info("pgvector.filled", model=model, rows=done)
            return done


async def nearest(
    database: Database,
    target: Any,
    model: str,
    limit: int,
    scoped: Callable[[Select[Any]], Select[Any]],
    min_similarity: float,
) -> list[tuple[int, float]]:
    """The `limit` rows of `model` nearest to the unit `target` that pass `scoped` (the
    query's scope and filters as WHERE clauses over `insights`), best first."""
    dims = len(target)
    column: Any = literal_column(f"insight_embeddings.{PGVECTOR_COLUMN}")
    # the same expression as the partial HNSW index's, so the planner can use it
    distance = cast(column, _Vector(dims)).op("<=>", return_type=Float())(
        cast(bindparam("target"), _Vector(dims))
    )
    ranked: Any = select(Insight.id, distance.label("distance"))
    statement = scoped(
        ranked.join(InsightEmbedding, InsightEmbedding.insight_id == Insight.id)
        .where(InsightEmbedding.model == model, InsightEmbedding.dims == dims)
        .where(column.is_not(None))
    )
    statement = statement.order_by(distance).limit(bindparam("limit", limit))
    params = {"target": literal(target)}
    ef_search = min(MAX_EF_SEARCH, max(EF_FLOOR, limit * EF_PER_RESULT))
    async with database.sessions.begin() as session:
        await session.execute(text(f"SET LOCAL hnsw.ef_search = {int(ef_search)}"))
        rows = (await session.execute(statement, params)).all()
        if len(rows) < limit:  # the filters left too few of the index's candidates
            await session.execute(text("SET LOCAL enable_indexscan = off"))
            rows = (await session.execute(statement, params)).all()
    found = [(int(i), 1.0 - float(d)) for i, d in rows]
    found = [(i, s) for i, s in found if s >= min_similarity]
    found.sort(key=lambda pair: (-pair[1], -pair[0]))  # ties: the newer insight
    return found
