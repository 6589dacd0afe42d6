"""Capturing insights through the console adapter, as a person typing would."""

from __future__ import annotations

from pathlib import Path

from tests.harness.console_harness import make_config, run_script


async def test_insight_command_captures_text_with_tags(database_url: str, tmp_path: Path) -> None:
    output = await run_script(
        make_config(database_url, tmp_path),
        ["/insight Small PRs get better reviews #Review #practice", "/insight show 1"],
    )
    assert (
        "💡 Captured insight #1 from alice: “Small PRs get better reviews” (#practice #review)"
        in output
    )
    assert "console://local/general/1" in output
    assert "by alice · captured by alice" in output


async def test_reacting_with_bulb_captures_message_once(database_url: str, tmp_path: Path) -> None:
    output = await run_script(
        make_config(database_url, tmp_path),
        ["Ship small, ship often", ":as bob", ":react 1 💡", ":react 1 💡", "/search ship"],
    )
    assert output.count("💡 Captured insight #1 from alice: “Ship small, ship often”") == 1
    assert "Already captured as insight #1" in output
    assert "1 insight(s) match" in output


async def test_replying_with_insight_captures_the_replied_message_crediting_its_author(
    database_url: str, tmp_path: Path
) -> None:
    output = await run_script(
        make_config(database_url, tmp_path),
        [
            "Retros work when actions have owners",
            ":as bob",
            ":reply 1 /insight Owners for actions #retro",
            "/insight message:1 #again",
            "/insight show 1",
        ],
    )
    assert "💡 Captured insight #1 from alice: “Owners for actions” (#retro)" in output
    assert "Already captured as insight #1" in output
    assert "by alice · captured by bob" in output
    assert "Retros work when actions have owners" in output


async def test_capture_survives_restart_as_already_captured(
    database_url: str, tmp_path: Path
) -> None:
    config = make_config(database_url, tmp_path)
    first = await run_script(config, ["/insight Pairing spreads knowledge #pairing"])
    assert "Captured insight #1" in first
    second = await run_script(config, [":react 1 💡", "A new message"])
    assert "Already captured as insight #1" in second
    assert (
        "#5 alice: A new message" in second
    )  # ids continue after the restart (3, 4: reaction, reply)


async def test_unknown_message_reference_is_explained(database_url: str, tmp_path: Path) -> None:
    output = await run_script(
        make_config(database_url, tmp_path),
        [":react 99 💡", "/insight message:99", "/insight message:abc", ":reply 42 hi"],
    )
    assert "There is no message #99 to react to." in output
    assert "I can't find message 99 in this channel any more." in output
    assert "message:abc is not a message id or link from this channel." in output
    assert "There is no message #42 to reply to." in output


async def test_edit_retag_delete_are_for_author_capturer_or_curator(
    database_url: str, tmp_path: Path
) -> None:
    output = await run_script(
        make_config(database_url, tmp_path),
        [
            "/insight Write it down #notes",
            ":as mallory",
            "/insight edit 1 Defaced",
            "/insight delete 1",
            ":as cora",
            "/insight retag 1 #writing #habits",
            "/insight edit 1 Write it down the same day",
            ":as alice",
            "/insight show 1",
            "/insight delete 1",
            "/insight show 1",
        ],
    )
    assert (
        output.count("Only its author, whoever captured it, or a curator can change insight #1.")
        == 2
    )
    assert "Insight #1 is now tagged #habits #writing." in output
    assert "Write it down the same day" in output
    assert "edited 2 time(s)" in output
    assert "🗑️ Deleted insight #1" in output
    assert "There is no insight #1 in this community." in output


async def test_editing_a_captured_source_updates_the_insight_and_keeps_history(
    database_url: str, tmp_path: Path
) -> None:
    output = await run_script(
        make_config(database_url, tmp_path),
        [
            "Tests are documentation",
            ":react 1 💡",
            ":edit 1 Good tests are documentation",
            ":delete 1",
            "/insight show 1",
        ],
    )
    assert "Good tests are documentation" in output
    assert "edited 1 time(s)" in output
    assert "source message was deleted" in output


async def test_channel_outside_any_community_is_explained(
    database_url: str, tmp_path: Path
) -> None:
    output = await run_script(
        make_config(database_url, tmp_path), [":channel random", "/insight Lost words"]
    )
    assert "This channel is not part of a Hearth community yet." in output
    assert "Captured" not in output
