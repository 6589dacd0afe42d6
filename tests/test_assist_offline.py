"""Assist without a model: labelled offline drafts, closest-insight answers, tag hints."""

from __future__ import annotations

from pathlib import Path

from tests.harness.console_harness import make_config, run_script

THREAD = [
    "How do you keep code reviews from dragging on for days?",  # 1
    ":as bob",
    ":reply 1 We cap review size. Small pull requests get reviewed within hours, big ones wait.",  # 2
    ":as carol",
    ":reply 1 Pairing on the review itself helps. A short call beats twenty comments on a pull request.",  # 3
]


async def test_summarize_drafts_offline_and_stores_only_on_accept(
    database_url: str, tmp_path: Path
) -> None:
    output = await run_script(
        make_config(database_url, tmp_path),
        [
            *THREAD,
            ":as dave",
            ":reply 1 /summarize",  # 4
            "/search reviews",  # nothing stored yet
            "/summarize accept #review",
            "/insight show 1",
            "/summarize accept",
        ],
    )
    assert "📝 Draft insight (drafted offline (no assist model for this community))" in output
    assert "from alice, bob, carol" in output
    assert "No insights match “reviews”." in output
    assert "💡 Captured insight #1 from alice" in output
    card = output.split("Insight #1 —")[1]
    assert "From a thread by alice, bob, carol: console://local/general/1" in card
    assert "captured by dave" in card and "#review" in card
    assert "No draft waiting" in output


async def test_ask_without_a_model_lists_the_closest_insights_and_never_guesses(
    database_url: str, tmp_path: Path
) -> None:
    output = await run_script(
        make_config(database_url, tmp_path),
        [
            "/insight Small pull requests get reviewed within hours #review",
            "/insight Retros need an owner for every action #retro",
            "/ask how do we get faster reviews on pull requests?",
            "/ask what is the capital of France?",
            "/ask ?",
        ],
    )
    assert (
        "1. #1 Small pull requests get reviewed within hours — console://local/general/1" in output
    )
    assert "(no assist model for this community: here are the closest insights)" in output
    assert "I have no stored insights about that yet, so I won't guess." in output
    assert "Ask a question with a few words in it" in output


async def test_untagged_capture_gets_tag_suggestions_preferring_existing_tags(
    database_url: str, tmp_path: Path
) -> None:
    output = await run_script(
        make_config(database_url, tmp_path),
        [
            "/insight Mentoring works best with a weekly slot #mentoring",
            "/insight Mentoring juniors: review their pull requests together",
        ],
    )
    assert "Suggested tags: #mentoring" in output
    assert "or /insight retag 2 #mentoring" in output


async def test_reacting_label_on_a_captured_message_adds_the_suggested_tags(
    database_url: str, tmp_path: Path
) -> None:
    output = await run_script(
        make_config(database_url, tmp_path),
        [
            "/insight Mentoring works best with a weekly slot #mentoring",  # 1, 2
            "/insight Mentoring juniors means reviewing code together",  # 3, 4
            ":as bob",
            ":react 3 🏷️",  # bob may not change alice's insight
            ":as alice",
            "Unrelated chatter",  # 7
            ":react 7 🏷️",
            ":react 3 🏷️",
        ],
    )
    assert "react 🏷️ on the captured message to add them" in output
    assert "Only its author, whoever captured it, or a curator can change insight #2." in output
    assert "That message is not captured yet: react 💡 first." in output
    tagged = output.split("🏷️ Insight #2 is now tagged ")[1].splitlines()[0]
    assert "#mentoring" in tagged
