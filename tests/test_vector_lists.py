"""Vector lists (knowledge/vector_lists.py): a large table is searched by its nearest
k-means lists, and still answers like an exact scan where it matters to a member."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from sqlalchemy import func, select

from knowledge.db import Database
from knowledge.directory import Directory
from knowledge.embeddings import EmbeddingStore, Vector
from knowledge.insights import InsightStore
from knowledge.models import InsightEmbedding
from knowledge.privacy import Privacy
from knowledge.search import SearchQuery
from knowledge.vector_cache import VectorCache
from knowledge.vector_lists import build
from knowledge.views import CommunityInfo, InsightView, MemberInfo, SourceMessage

DIMS = 16
TOPICS = 12


def topic_vectors(count: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """`count` unit vectors around TOPICS centres (insight n is about topic n % TOPICS)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(TOPICS, DIMS))
    rows = centres[np.arange(count) % TOPICS] + 0.15 * rng.normal(size=(count, DIMS))
    return centres, rows / np.linalg.norm(rows, axis=1, keepdims=True)


async def guild_with(
    database: Database,
    count: int,
    tagged: frozenset[int] = frozenset(),
    author_of: frozenset[int] = frozenset(),
) -> tuple[CommunityInfo, MemberInfo, list[InsightView]]:
    """The guild and `count` insights by Cora (those in `author_of` by Bob; `tagged` #rare)."""
    directory = Directory(database)
    guild = await directory.ensure_community("guild", "Guild", "UTC")
    cora = await directory.resolve_member(guild.id, "console", "cora", "Cora")
    bob = await directory.resolve_member(guild.id, "console", "bob", "Bob")
    insights = InsightStore(database)

    async def capture(n: int) -> InsightView:
        who = ("bob", "Bob") if n in author_of else ("cora", "Cora")
        source = SourceMessage("console", "l", "g", str(n), f"insight number {n}", *who)
        tags = ["rare"] if n in tagged else []
        return (await insights.capture(guild.id, source, curator=cora, tags=tags)).insight

    made = await asyncio.gather(*(capture(n) for n in range(count)))  # committed in batches
    return guild, bob, list(made)


async def store_vectors(store: EmbeddingStore, made: list[InsightView], rows: np.ndarray) -> None:
    await store.upsert(
        "m",
        [Vector(i.id, i.updated_at, row.tolist()) for i, row in zip(made, rows, strict=True)],
    )


def test_lists_group_every_row_once_and_small_tables_get_none() -> None:
    _, rows = topic_vectors(400)
    assert build(rows.astype(np.float32), min_rows=500) is None
    built = build(rows.astype(np.float32), min_rows=100)
    assert built is not None
    lists, order = built
    assert sorted(order.tolist()) == list(range(400))
    assert lists.offsets[0] == 0 and lists.offsets[-1] == 400
    assert len(lists.centroids) == 20  # about the square root of the rows


async def test_a_large_table_scores_only_the_nearest_lists_and_finds_what_an_exact_scan_finds(
    database: Database,
) -> None:
    guild, _, made = await guild_with(database, 240)
    centres, rows = topic_vectors(len(made))
    listed = EmbeddingStore(database, VectorCache(lists_from=100))
    exact = EmbeddingStore(database, VectorCache(lists_from=None))
    await store_vectors(listed, made, rows)
    number = {insight.id: n for n, insight in enumerate(made)}
    for topic in range(TOPICS):
        question = centres[topic].tolist()
        found = await listed.nearest(guild.id, question, 10, "m")
        every = await exact.nearest(guild.id, question, 10, "m")
        assert [i for i, _ in found] == [i for i, _ in every]
        assert {number[i] % TOPICS for i, _ in found} == {topic}
    table = listed._cache.fresh("m", DIMS)  # the rows a question actually read
    assert table is not None and table.lists is not None
    ids, _ = VectorCache.score(table, np.asarray(centres[0], np.float32), None, None, exact=False)
    assert len(ids) < len(made) * 0.75


async def test_a_tag_filter_finds_its_few_insights_even_outside_the_nearest_lists(
    database: Database,
) -> None:
    rare = frozenset(
        {5, 17, 29}
    )  # all about topic 5 (17 % 12 = 29 % 12 = 5): far from the question's topic
    guild, _, made = await guild_with(database, 240, tagged=rare)
    centres, rows = topic_vectors(len(made))
    store = EmbeddingStore(database, VectorCache(lists_from=100))
    await store_vectors(store, made, rows)
    query = SearchQuery(guild.id, tags=("rare",))
    found = await store.nearest(guild.id, centres[0].tolist(), 10, "m", query=query)
    assert {i for i, _ in found} == {made[n].id for n in rare}


async def test_forget_me_removes_the_members_vectors_from_the_database_and_from_results(
    database: Database,
) -> None:
    bobs = frozenset({0, 12, 24})  # Bob's insights, all on topic 0
    guild, bob, made = await guild_with(database, 240, author_of=bobs)
    centres, rows = topic_vectors(len(made))
    store = EmbeddingStore(database, VectorCache(lists_from=100))
    await store_vectors(store, made, rows)
    question = centres[0].tolist()
    before = await store.nearest(guild.id, question, 40, "m", min_similarity=0.8)
    assert {made[n].id for n in bobs} <= {i for i, _ in before}
    await Privacy(database).forget(bob)
    async with database.sessions() as session:
        kept = await session.scalar(
            select(func.count()).where(InsightEmbedding.insight_id.in_([made[n].id for n in bobs]))
        )
    assert kept == 0
    after = await store.nearest(guild.id, question, 40, "m", min_similarity=0.8)
    assert not {made[n].id for n in bobs} & {i for i, _ in after}
    assert len(after) == 17  # topic 0's twenty insights less Bob's three


@pytest.mark.parametrize("count", [1, 2, 3])
def test_tiny_tables_build_without_error(count: int) -> None:
    rows = np.eye(DIMS, dtype=np.float32)[:count]
    built = build(rows, min_rows=1)
    if built is not None:
        lists, order = built
        assert sorted(order.tolist()) == list(range(count))
        assert lists.probes <= len(lists.centroids)


async def test_a_large_stale_table_answers_at_once_and_another_instances_write_shows_after_reload(
    database: Database,
) -> None:
    guild, _, made = await guild_with(database, 241)
    centres, rows = topic_vectors(240)
    this = EmbeddingStore(database, VectorCache(max_age=0.0, lists_from=100))
    await store_vectors(this, made[:240], rows)
    question = centres[3].tolist()
    [(best, _)] = await this.nearest(guild.id, question, 1, "m")
    other_instance = EmbeddingStore(database)
    await other_instance.upsert("m", [Vector(made[240].id, made[240].updated_at, question)])
    [(held, _)] = await this.nearest(guild.id, question, 1, "m")
    assert held == best  # answered from the table held, not after reading 240 vectors again
    await this.reloaded()
    [(found, score)] = await this.nearest(guild.id, question, 1, "m")
    assert found == made[240].id and score == pytest.approx(1.0, abs=1e-3)
