"""Bad input through the console, as a person would type it: a clear sentence, the right
action, never a misreading (issue #22)."""

from __future__ import annotations

from pathlib import Path

from tests.harness.console_harness import make_config, run_script


async def test_insights_starting_with_a_subcommand_word_are_captured_as_text(
    database_url: str, tmp_path: Path
) -> None:
    output = await run_script(
        make_config(database_url, tmp_path),
        [
            "/insight Small PRs get better reviews",  # 1
            "/insight Edit 1 file per commit",  # 2: "Edit" is not `edit`
            "/insight Share knowledge early",  # 3: no id after the verb
            "/insight delete flaky tests rather than retrying them",  # 4
            "/insight show 1",
            "/insight edit 1 Small PRs get faster reviews",  # the subcommand: an id follows
            "/insight add edit 2 first, then the rest",  # `add` keeps anything as text
            "/insight delete 3 tests before merging",  # an id, then too much: said, not guessed
        ],
    )
    assert "Captured insight #2 from alice: “Edit 1 file per commit”" in output
    assert "Captured insight #3 from alice: “Share knowledge early”" in output
    assert (
        "Captured insight #4 from alice: “delete flaky tests rather than retrying them”" in output
    )
    assert "Small PRs get better reviews" in output.split("/insight edit 1")[0]
    assert "✏️ Updated." in output and "Small PRs get faster reviews" in output
    assert "Captured insight #5 from alice: “edit 2 first, then the rest”" in output
    assert "should be a number" not in output
    last = output.split("/insight delete 3 tests before merging")[-1]
    assert "I don't know what to do with 'tests before merging'" in last
    assert "To keep it as text instead: /insight add delete 3 tests before merging" in last
    assert "Deleted" not in output


async def test_search_paging_empty_options_and_no_match_hints(
    database_url: str, tmp_path: Path
) -> None:
    output = await run_script(
        make_config(database_url, tmp_path),
        [
            "/insight Reviews go faster with small PRs #review",
            "/search review page:999999999999",
            "/search review page:99999999999999999999999",
            "/search review page:" + "9" * 5000,
            "/search review tag:",
            "/search zebra crossing",
            "/insight show 99999999999999999999",
        ],
    )
    only = "There are only 1 page(s) of results for “review” (1 insight(s)): try page:1."
    assert output.count(only) == 2
    assert "page 999999999999… is too large: no list is that long." in output
    assert "tag: is empty" in output and "Unknown option tag:" not in output
    assert "No insights match “zebra crossing”.\n    Try fewer or other words, or ask" in output
    assert "id 999999999999… is too large: it goes up to 2147483647." in output
    assert "Something went wrong" not in output


async def test_help_states_the_subcommand_rule(database_url: str, tmp_path: Path) -> None:
    output = await run_script(make_config(database_url, tmp_path), ["/help", "/help insight"])
    assert output.count("A subcommand is lower case with the id right after it") == 1
    assert "/insight Edit 1 file per commit, is captured as text" in output


async def test_tags_per_insight_are_capped_and_the_refusal_is_short(
    database_url: str, tmp_path: Path
) -> None:
    many = " ".join(f"#t{i}" for i in range(5000))
    twenty = " ".join(f"#t{i}" for i in range(20))
    output = await run_script(
        make_config(database_url, tmp_path),
        [
            f"/insight Tag everything {many}",
            f"/insight Tag enough {twenty}",
            "/insight retag 1 " + " ".join(f"#u{i}" for i in range(21)),
            "/tags",
        ],
    )
    assert "An insight can have at most 20 tags; this one would have 5,000." in output
    assert "Captured insight #1 from alice: “Tag enough”" in output
    assert "this one would have 21" in output
    replies = [line for line in output.splitlines() if "hearth" in line]
    assert max(len(line) for line in replies) < 600
    assert "20 tag(s)" in output  # the refused ones left nothing behind


async def test_invitation_for_an_unknown_community_is_refused(
    database_url: str, tmp_path: Path
) -> None:
    output = await run_script(
        make_config(database_url, tmp_path),
        [":as steve", "/constellation invite for:nowhere", "/constellation invite for:guild"],
    )
    assert "No community has the slug nowhere" in output
    assert "guild is this community" in output
    assert "Invitation created" not in output


async def test_bulb_on_hearths_own_message_is_not_captured(
    database_url: str, tmp_path: Path
) -> None:
    output = await run_script(
        make_config(database_url, tmp_path),
        ["/insight Small steps", ":as bob", ":react 2 💡", ":reply 2 /insight"],
    )
    assert "#2 hearth → #1: 💡 Captured insight #1" in output
    assert output.count("That is one of my own messages") == 2
    assert "from hearth" not in output


async def test_reply_to_a_message_of_another_channel_is_refused(
    database_url: str, tmp_path: Path
) -> None:
    output = await run_script(
        make_config(database_url, tmp_path),
        ["Hello", ":channel random", ":reply 1 Hi back", ":channel general", ":reply 1 Hi"],
    )
    assert "! #1 is in #general, not #random: switch with `:channel general`" in output
    assert "#2 alice → #1: Hi" in output  # nothing was posted from #random


async def test_a_ritual_every_99999999999_weeks_is_refused_at_once(
    database_url: str, tmp_path: Path
) -> None:
    output = await run_script(
        make_config(database_url, tmp_path),
        [
            ":as cora",
            "/ritual add retro #general every 99999999999 weeks on friday 16:00",
            "/ritual add retro #general every 52 weeks on friday 16:00",
        ],
    )
    assert "I repeat every 1 to 52 weeks." in output
    assert "every 52 weeks on Friday at 16:00" in output
    assert "Send /ritual confirm to save it." in output
