"""Capturing insights through the store API, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from knowledge.db import Database
from knowledge.directory import Directory
from knowledge.errors import InvalidInput, NotAllowed, NotFound
from knowledge.insight_text import MAX_BODY_CHARS
from knowledge.insights import InsightStore
from knowledge.views import CommunityInfo, MemberInfo
from knowledge.vocabulary import Role
from tests.harness.store_rows import console_message


async def member(database: Database, community: CommunityInfo, name: str) -> MemberInfo:
    return await Directory(database).resolve_member(community.id, "console", name, name.title())


async def test_capturing_a_message_records_author_curator_tags_and_permalink(
    database: Database, community: CommunityInfo
) -> None:
    bob = await member(database, community, "bob")
    result = await InsightStore(database).capture(
        community.id,
        console_message("7", "Write the test first"),
        curator=bob,
        tags=["TDD", "#craft"],
    )
    assert result.created
    insight = result.insight
    assert (insight.author_name, insight.curator_name) == ("Alice", "Bob")
    assert insight.tags == ("craft", "tdd")
    assert insight.permalink == "console://local/general/7"
    assert insight.body == "Write the test first"


async def test_capturing_the_same_message_twice_yields_one_insight(
    database: Database, community: CommunityInfo
) -> None:
    store = InsightStore(database)
    bob = await member(database, community, "bob")
    first = await store.capture(
        community.id, console_message("7", "Write the test first"), curator=bob
    )
    again = await store.capture(
        community.id, console_message("7", "Write the test first"), curator=bob, tags=["other"]
    )
    assert not again.created
    assert again.insight.id == first.insight.id
    assert await store.count(community.id) == 1


async def test_edits_keep_the_previous_text_as_a_revision(
    database: Database, community: CommunityInfo
) -> None:
    store = InsightStore(database)
    alice = await member(database, community, "alice")
    captured = (
        await store.capture(community.id, console_message("1", "Old words"), curator=alice)
    ).insight
    edited = await store.edit(community.id, captured.id, alice, "New words", add_tags=["fresh"])
    assert (edited.body, edited.tags, edited.revisions) == ("New words", ("fresh",), 1)
    retagged = await store.retag(community.id, captured.id, alice, ["a", "b"])
    assert retagged.tags == ("a", "b")
    assert retagged.revisions == 2


async def test_only_author_capturer_or_curator_may_change_an_insight(
    database: Database, community: CommunityInfo
) -> None:
    store = InsightStore(database)
    alice = await member(database, community, "alice")
    carol = await member(database, community, "carol")
    captured = (
        await store.capture(community.id, console_message("1", "Mine"), curator=alice)
    ).insight
    with pytest.raises(NotAllowed):
        await store.edit(community.id, captured.id, carol, "Hijacked")
    curator = await Directory(database).assign_role(community.id, "console", "carol", Role.CURATOR)
    assert (await store.edit(community.id, captured.id, curator, "Tidied")).body == "Tidied"
    await store.delete(community.id, captured.id, curator)
    with pytest.raises(NotFound):
        await store.get(community.id, captured.id)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("   ", "Nothing to capture"), ("x" * (MAX_BODY_CHARS + 1), "the limit is 4,000")],
)
async def test_empty_or_oversized_text_is_refused_with_the_limit(
    database: Database, community: CommunityInfo, text: str, expected: str
) -> None:
    alice = await member(database, community, "alice")
    with pytest.raises(InvalidInput, match=expected):
        await InsightStore(database).capture(
            community.id, console_message("1", text), curator=alice
        )
    assert await InsightStore(database).count(community.id) == 0


async def test_unicode_emoji_and_rtl_text_round_trip(
    database: Database, community: CommunityInfo
) -> None:
    alice = await member(database, community, "alice")
    text = "שלום עולם — 🔥 naïve café; '; DROP TABLE insights; --"
    result = await InsightStore(database).capture(
        community.id, console_message("1", text), curator=alice, tags=["עברית", "café"]
    )
    stored = await InsightStore(database).get(community.id, result.insight.id)
    assert stored.body == text
    assert stored.tags == ("café", "עברית")
