"""Stored vector lists and int8 scoring (knowledge/vector_index.py, knowledge/vector_cache.py):
a restart reads the lists instead of learning them, a save lands in its list at once,
and the approximate ranking keeps what an exact float ranking finds."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import select

from knowledge.db import Database
from knowledge.embeddings import EmbeddingStore, Vector
from knowledge.models import InsightEmbedding, VectorListSet
from knowledge.vector_cache import VectorCache
from tests.test_vector_lists import DIMS, guild_with, store_vectors, topic_vectors


async def stored_lists(
    database: Database,
) -> tuple[int, dict[int, tuple[int | None, int | None]]]:
    """The stored lists' version, and every vector row's (list, version) by insight id."""
    async with database.sessions() as session:
        version = await session.scalar(select(VectorListSet.version))
        rows = (
            await session.execute(
                select(
                    InsightEmbedding.insight_id,
                    InsightEmbedding.list_no,
                    InsightEmbedding.list_version,
                )
            )
        ).all()
    assert version is not None
    return version, {r[0]: (r[1], r[2]) for r in rows}


async def test_a_restart_reads_the_stored_lists_and_a_save_lands_in_its_list(
    database: Database,
) -> None:
    guild, _, made = await guild_with(database, 241)
    centres, rows = topic_vectors(240)
    first = EmbeddingStore(database, VectorCache(lists_from=100))
    await store_vectors(first, made[:240], rows)
    question = centres[4].tolist()
    found = await first.nearest(guild.id, question, 10, "m")
    version, assigned = await stored_lists(database)
    assert all(v == version and n is not None for n, v in assigned.values())  # every row in a list

    restarted = EmbeddingStore(database, VectorCache(lists_from=100))
    assert await restarted.nearest(guild.id, question, 10, "m") == found
    table = restarted._cache.current("m", DIMS)
    assert table is not None and table.lists is not None
    assert table.lists_version == version and table.unstored is None  # nothing learnt again
    assert (await stored_lists(database))[0] == version

    # saved while the lists are held: stored with its list, found at once
    await restarted.upsert("m", [Vector(made[240].id, made[240].updated_at, question)])
    new_list, new_version = (await stored_lists(database))[1][made[240].id]
    assert new_version == version
    similarity = table.lists.centroids @ (np.asarray(question) / np.linalg.norm(question))
    assert new_list is not None
    assert similarity[new_list] == pytest.approx(similarity.max(), abs=1e-5)  # its nearest
    [(best, _)] = await restarted.nearest(guild.id, question, 1, "m")
    assert best == made[240].id

    again = EmbeddingStore(database, VectorCache(lists_from=100))
    [(best, _)] = await again.nearest(guild.id, question, 1, "m")
    table = again._cache.current("m", DIMS)
    assert best == made[240].id and table is not None and table.unstored is None


async def test_rows_saved_without_lists_are_assigned_at_the_next_load_and_written_back(
    database: Database,
) -> None:
    guild, _, made = await guild_with(database, 240)
    centres, rows = topic_vectors(240)
    first = EmbeddingStore(database, VectorCache(lists_from=100))
    await store_vectors(first, made[:200], rows[:200])
    await first.nearest(guild.id, centres[0].tolist(), 5, "m")
    version, _ = await stored_lists(database)
    # another process that never searched: it saves without a list
    await store_vectors(EmbeddingStore(database), made[200:], rows[200:])
    unlisted = (await stored_lists(database))[1]
    assert all(unlisted[i.id] == (None, None) for i in made[200:])
    restarted = EmbeddingStore(database, VectorCache(lists_from=100))
    await restarted.nearest(guild.id, centres[0].tolist(), 5, "m")
    again_version, assigned = await stored_lists(database)
    assert again_version == version
    assert all(v == version and n is not None for n, v in assigned.values())


async def test_int8_lists_keep_the_exact_float_top_10_and_30(database: Database) -> None:
    """Agreement with an exact float32 ranking computed here, over 40 questions."""
    count = 600
    guild, _, made = await guild_with(database, count)
    rng = np.random.default_rng(11)
    _, rows = topic_vectors(count, seed=5)
    rows = rows + 0.05 * rng.normal(size=rows.shape)  # neighbours closer than a topic
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    store = EmbeddingStore(database, VectorCache(lists_from=300))
    await store_vectors(store, made, rows)
    stored = rows.astype(np.float16).astype(np.float32)  # what the database keeps
    ids = np.asarray([i.id for i in made])
    agreement: dict[int, list[float]] = {10: [], 30: []}
    for _ in range(40):
        question = rows[rng.integers(count)] + 0.3 * rng.normal(size=DIMS)
        question /= np.linalg.norm(question)
        exact = ids[np.argsort(-(stored @ question.astype(np.float32)), kind="stable")]
        for depth in (10, 30):
            found = await store.nearest(guild.id, question.tolist(), depth, "m")
            overlap = {i for i, _ in found} & set(exact[:depth].tolist())
            agreement[depth].append(len(overlap) / depth)
    table = store._cache.current("m", DIMS)
    assert table is not None and table.lists is not None  # the approximate path was taken
    assert np.mean(agreement[10]) >= 0.9
    assert np.mean(agreement[30]) >= 0.9
