"""Search through the store API: ranking, snippets, filters, hostile input, both backends."""

from __future__ import annotations

import pytest
from sqlalchemy import insert, text

from bot import formatting
from knowledge.db import Database
from knowledge.directory import Directory
from knowledge.insights import InsightStore
from knowledge.models import Insight, Source
from knowledge.schema_extras import POSTGRES_SEARCH_INDEX, POSTGRES_TSVECTOR
from knowledge.search import SearchQuery, open_search, parse_terms
from knowledge.search.ranked import COUNT_CAP
from knowledge.views import CommunityInfo, SourceMessage


@pytest.fixture
async def seeded(database: Database) -> CommunityInfo:
    directory = Directory(database)
    community = await directory.ensure_community("guild", "Guild", "UTC")
    other = await directory.ensure_community("other", "Other", "UTC")
    curator = await directory.resolve_member(community.id, "console", "cora", "Cora")
    outsider = await directory.resolve_member(other.id, "console", "olga", "Olga")
    store = InsightStore(database)
    bodies = [
        "Deploy on Fridays only with a rollback plan",
        "Rollback scripts must be tested like features; rollback rollback rollback",
        "Café culture: naïve questions are welcome",
        "שאלות טובות מובילות לתשובות טובות",
        "Mentoring works best with regular check-ins 🔥",
    ]
    for n, body in enumerate(bodies, start=1):
        await store.capture(
            community.id,
            SourceMessage("console", "local", "general", str(n), body, "alice", "Alice"),
            curator=curator,
            tags=["ops"] if "ollback" in body else ["culture"],
        )
    await store.capture(
        other.id,
        SourceMessage(
            "console",
            "local",
            "elsewhere",
            "99",
            "Rollback secrets of another community",
            "olga",
            "Olga",
        ),
        curator=outsider,
    )
    return community


async def search(
    database: Database, community: CommunityInfo, query: str, **kw: object
) -> list[str]:
    page = await open_search(database).search(
        SearchQuery(community.id, parse_terms(query), **kw)  # type: ignore[arg-type]
    )
    return [hit.snippet for hit in page.hits]


async def test_more_relevant_insights_rank_first_with_highlights(
    database: Database, seeded: CommunityInfo
) -> None:
    snippets = await search(database, seeded, "rollback")
    assert len(snippets) == 2
    assert snippets[0].lower().count("**rollback**") >= 3
    assert "**" in snippets[1]


async def test_search_never_crosses_into_another_community(
    database: Database, seeded: CommunityInfo
) -> None:
    assert all("secrets" not in s for s in await search(database, seeded, "rollback"))


async def test_stemming_accents_unicode_and_emoji(
    database: Database, seeded: CommunityInfo
) -> None:
    assert len(await search(database, seeded, "tests")) == 1  # stems to "test"
    if database.dialect == "sqlite":  # FTS5 folds diacritics; PostgreSQL needs unaccent
        assert len(await search(database, seeded, "cafe")) == 1
    assert len(await search(database, seeded, "naïve")) == 1
    assert len(await search(database, seeded, "שאלות")) == 1


async def test_phrases_exclusions_and_tag_filters(
    database: Database, seeded: CommunityInfo
) -> None:
    assert len(await search(database, seeded, '"rollback plan"')) == 1
    assert len(await search(database, seeded, "rollback -fridays")) == 1
    assert len(await search(database, seeded, "welcome", tags=("ops",))) == 0
    assert len(await search(database, seeded, "welcome", tags=("culture",))) == 1


@pytest.mark.parametrize(
    "hostile",
    ["'; DROP TABLE insights; --", 'NEAR("a" "b")', "* OR AND NOT", "a:b {c} ^d", "\\x00 %_"],
)
async def test_hostile_queries_are_just_words(
    database: Database, seeded: CommunityInfo, hostile: str
) -> None:
    await search(database, seeded, hostile)
    assert len(await search(database, seeded, "rollback")) == 2


async def test_postgres_search_uses_the_gin_index(
    database: Database, seeded: CommunityInfo
) -> None:
    if database.dialect != "postgresql":
        pytest.skip("PostgreSQL only")
    async with database.engine.connect() as connection:
        await connection.execute(text("SET enable_seqscan = off"))
        plan = (
            (
                await connection.execute(
                    text(
                        f"EXPLAIN SELECT id FROM insights WHERE {POSTGRES_TSVECTOR} "
                        "@@ websearch_to_tsquery('english', 'rollback')"
                    )
                )
            )
            .scalars()
            .all()
        )
    assert any(POSTGRES_SEARCH_INDEX in line for line in plan), plan


async def test_words_in_other_forms_match_by_their_stem(
    database: Database, seeded: CommunityInfo
) -> None:
    assert len(await search(database, seeded, "deploying")) == 1  # "Deploy"
    assert len(await search(database, seeded, "mentor checking")) == 1  # Mentoring, check-ins


async def test_when_no_insight_has_every_word_any_of_them_is_enough(
    database: Database, seeded: CommunityInfo
) -> None:
    page = await open_search(database).search(
        SearchQuery(seeded.id, parse_terms("what keeps our rollback from being untested"))
    )
    assert page.relaxed
    # both rollback insights, the one that has "tested" too ranked first
    assert [h.snippet.lower().count("**") > 0 for h in page.hits] == [True, True]
    assert "tested" in page.hits[0].snippet
    # the little words alone ("what", "our", "from") find nothing on their own
    assert page.total == 2


async def test_relaxed_search_keeps_phrases_and_exclusions_exact(
    database: Database, seeded: CommunityInfo
) -> None:
    # without the phrase every rollback insight would match "rollback scripts"
    assert await search(database, seeded, 'rollback mentoring "rollback plan"') == [
        s for s in await search(database, seeded, '"rollback plan"')
    ]
    found = await search(database, seeded, "rollback mentoring -fridays")
    assert len(found) == 2  # one rollback insight, one mentoring insight
    assert not any("Fridays" in s for s in found)


async def test_a_search_that_finds_a_page_with_every_word_is_not_widened(
    database: Database, seeded: CommunityInfo
) -> None:
    page = await open_search(database).search(
        SearchQuery(seeded.id, parse_terms("rollback plan"), limit=1)
    )
    assert not page.relaxed and page.total == 1


async def _bulk(database: Database, community: CommunityInfo, bodies: list[str]) -> None:
    """Many insights at once (the FTS triggers and generated column still fill in)."""
    moment = database.clock.now()
    async with database.sessions.begin() as session:
        sources = (
            await session.scalars(
                insert(Source).returning(Source.id, sort_by_parameter_order=True),
                [
                    {
                        "community_id": community.id,
                        "platform": "console",
                        "space": "local",
                        "channel": "bulk",
                        "message_id": str(n),
                        "text": body,
                        "posted_at": moment,
                    }
                    for n, body in enumerate(bodies)
                ],
            )
        ).all()
        await session.execute(
            insert(Insight),
            [
                {
                    "community_id": community.id,
                    "source_id": source,
                    "body": body,
                    "created_at": moment,
                    "updated_at": moment,
                }
                for source, body in zip(sources, bodies, strict=True)
            ],
        )


async def test_a_very_common_word_says_how_many_at_least_and_pages_on(
    database: Database, seeded: CommunityInfo
) -> None:
    """Counting every match of a word in half the insights costs O(N): the count stops at
    COUNT_CAP and the reply says "1000+", with a next page."""
    await _bulk(database, seeded, [f"Compost batch {n} needs turning" for n in range(1005)])
    backend = open_search(database)
    page = await backend.search(SearchQuery(seeded.id, parse_terms("compost")))
    assert (page.total, page.capped, len(page.hits)) == (COUNT_CAP, True, 10)
    reply = formatting.search_results(page, "“compost”", 10)
    assert reply.startswith("🔎 1000+ insight(s) match “compost” (page 1 of 100+)")
    assert reply.endswith("More: add page:2")
    # far pages still answer: ranking is not capped for every-word matches
    far = await backend.search(SearchQuery(seeded.id, parse_terms("compost"), offset=1000))
    assert len(far.hits) == 5
    # a rare word is still counted exactly, in the same database
    assert (await backend.search(SearchQuery(seeded.id, parse_terms("fridays")))).total == 1


async def test_any_word_fallback_over_many_matches_ranks_the_newest_and_filters_apply(
    database: Database, seeded: CommunityInfo
) -> None:
    await _bulk(database, seeded, [f"Compost batch {n} needs turning" for n in range(1005)])
    backend = open_search(database)
    page = await backend.search(
        SearchQuery(seeded.id, parse_terms("compost rollback teaching"), limit=5)
    )
    assert page.relaxed and page.capped and len(page.hits) == 5
    assert all("**" in h.snippet for h in page.hits)  # each says which words matched
    # the tag filter narrows the fallback to the two rollback insights tagged #ops
    tagged = await backend.search(
        SearchQuery(seeded.id, parse_terms("compost rollback teaching"), tags=("ops",))
    )
    assert tagged.relaxed and tagged.total == 2 and not tagged.capped
    assert all("**Rollback**" in h.snippet or "**rollback**" in h.snippet for h in tagged.hits)
