"""pgvector on PostgreSQL (knowledge/pgvector_search.py, migration 0018): on a server with
the extension, vectors are ranked there through an HNSW index, with /search's scope and
filters in the same statement; tested on the `pgserver` wheel's PostgreSQL + pgvector."""

from __future__ import annotations

from collections.abc import AsyncIterator

import numpy as np
import pytest
from sqlalchemy import text

from knowledge.db import Database, open_database
from knowledge.embeddings import EmbeddingStore, Vector
from knowledge.migrate import schema_drift
from knowledge.search import SearchQuery
from knowledge.vector_cache import VectorCache
from tests import test_semantic_search as semantic
from tests.conftest import _truncate
from tests.test_vector_lists import guild_with

DIMS = 256  # WordLlama's; migration 0018 made an HNSW index for it (and for MiniLM's 384)


def topic_vectors(count: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(12, DIMS))
    rows = centres[np.arange(count) % 12] + 0.3 * rng.normal(size=(count, DIMS))
    return centres, rows / np.linalg.norm(rows, axis=1, keepdims=True)


@pytest.fixture
async def vec_database(pgvector_url: str) -> AsyncIterator[Database]:
    await _truncate(pgvector_url.replace("postgresql+asyncpg", "postgresql"))
    database = open_database(pgvector_url)
    yield database
    await database.dispose()


async def test_the_migration_creates_the_extension_column_and_hnsw_index(
    vec_database: Database,
) -> None:
    async with vec_database.sessions() as session:
        indexes = set(
            await session.scalars(
                text("SELECT indexname FROM pg_indexes WHERE tablename = 'insight_embeddings'")
            )
        )
    assert {"ix_insight_embeddings_hnsw_256", "ix_insight_embeddings_hnsw_384"} <= indexes
    assert await schema_drift(vec_database) == []


async def test_postgres_ranks_with_hnsw_and_agrees_with_the_in_process_ranking(
    vec_database: Database,
) -> None:
    guild, _, made = await guild_with(vec_database, 300)
    centres, rows = topic_vectors(len(made))
    store = EmbeddingStore(vec_database)
    await store.upsert(
        "m", [Vector(i.id, i.updated_at, r.tolist()) for i, r in zip(made, rows, strict=True)]
    )
    # the path a server without the extension takes
    in_process = EmbeddingStore(vec_database, VectorCache(lists_from=None), in_process=True)
    for topic in range(12):
        question = centres[topic] / np.linalg.norm(centres[topic])
        found = await store.nearest(guild.id, question.tolist(), 10, "m")
        exact = await in_process.nearest(guild.id, question.tolist(), 10, "m")
        assert len({i for i, _ in found} & {i for i, _ in exact}) >= 9
        assert found[0][1] == pytest.approx(exact[0][1], abs=0.01)
    async with vec_database.sessions() as session:
        await session.execute(text("SET enable_seqscan = off"))
        plan = "\n".join(
            await session.scalars(
                text(
                    "EXPLAIN SELECT insight_id FROM insight_embeddings WHERE dims = 256"
                    " ORDER BY embedding::vector(256) <=> CAST(:q AS vector(256)) LIMIT 10"
                ),
                {"q": "[" + ",".join(["0.1"] * DIMS) + "]"},
            )
        )
    assert "ix_insight_embeddings_hnsw_256" in plan


async def test_a_narrow_tag_filter_and_older_rows_are_still_found(vec_database: Database) -> None:
    rare = frozenset({5, 17, 29})  # topic 5: far from the question's topic 0
    guild, _, made = await guild_with(vec_database, 240, tagged=rare)
    centres, rows = topic_vectors(len(made))
    store = EmbeddingStore(vec_database)
    await store.upsert(
        "m", [Vector(i.id, i.updated_at, r.tolist()) for i, r in zip(made, rows, strict=True)]
    )
    async with vec_database.sessions.begin() as session:  # as stored before migration 0018
        await session.execute(text("UPDATE insight_embeddings SET embedding = NULL"))
    restarted = EmbeddingStore(vec_database)
    query = SearchQuery(guild.id, tags=("rare",))
    found = await restarted.nearest(guild.id, centres[0].tolist(), 10, "m", query=query)
    assert {i for i, _ in found} == {made[n].id for n in rare}
    everything = await restarted.nearest(guild.id, centres[0].tolist(), 20, "m")
    assert len(everything) == 20


async def test_scope_constellation_finds_siblings_shared_insights_by_meaning(
    vec_database: Database,
) -> None:
    await semantic.test_semantic_hits_obey_filters_and_cover_siblings_shared_insights(vec_database)
    async with vec_database.sessions() as session:
        filled = await session.scalar(
            text("SELECT count(*) FROM insight_embeddings WHERE embedding IS NOT NULL")
        )
    assert filled == 2  # ranked by the server, not in process
