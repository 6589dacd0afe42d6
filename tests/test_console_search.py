"""Searching, browsing tags, help, export and forget-me through the console."""

from __future__ import annotations

import io
import json
from pathlib import Path

from tests.harness.console_harness import make_config, run_script

SEEDED = [
    "/insight Code review is where juniors learn the codebase fastest #review #learning",
    "/insight Pair programming beats code review for onboarding #pairing #onboarding",
    "/insight Retros need owners for every action #retro",
    ":as bob",
    "/insight Review checklists catch the boring bugs #review",
]


async def test_search_ranks_matches_with_highlighted_snippets_and_permalinks(
    database_url: str, tmp_path: Path
) -> None:
    output = await run_script(make_config(database_url, tmp_path), [*SEEDED, "/search review"])
    results = output.split("match “review”")[1]
    assert "3 insight(s)" in output.split("match “review”")[0].splitlines()[-1]
    assert "**" not in results  # highlights are shown plain when output is no terminal
    assert "review checklists catch the boring bugs" in results.lower()
    assert "console://local/general/" in results
    assert "Retros" not in results


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


async def test_search_highlights_are_styled_on_a_terminal(
    database_url: str, tmp_path: Path
) -> None:
    screen = Terminal()
    await run_script(make_config(database_url, tmp_path), [*SEEDED, "/search review"], out=screen)
    results = screen.getvalue().split("match “review”")[1]
    assert "\x1b[1mReview\x1b[22m checklists" in results
    assert "**" not in results


async def test_search_filters_by_tag_author_and_date(database_url: str, tmp_path: Path) -> None:
    output = await run_script(
        make_config(database_url, tmp_path),
        [
            *SEEDED,
            "/search review tag:review author:alice",
            "/search @bob",
            "/search #retro since:2020-01-01",
            "/search review since:2999-01-01",
        ],
    )
    assert "1 insight(s) match “review” #review by alice" in output
    assert "1 insight(s) match by bob" in output
    assert "1 insight(s) match #retro since 2020-01-01" in output
    assert "No insights match “review” since 2999-01-01." in output


async def test_search_pages_long_result_lists(database_url: str, tmp_path: Path) -> None:
    lines = [f"/insight Note number {n} about testing #bulk" for n in range(12)]
    output = await run_script(
        make_config(database_url, tmp_path), [*lines, "/search testing", "/search testing page:3"]
    )
    assert "12 insight(s) match “testing” (page 1 of 3)" in output
    assert "More: add page:2" in output
    assert "(page 3 of 3)" in output


async def test_bad_search_input_gets_a_clear_message(database_url: str, tmp_path: Path) -> None:
    output = await run_script(
        make_config(database_url, tmp_path),
        [
            *SEEDED,
            '/search "unclosed phrase',
            "/search since:last-week",
            "/search colour:blue",
            "/search -review",
            "/search",
            "/search '; DROP TABLE insights; --",
            "/search NEAR(review) OR * AND",
            "/search review",
        ],
    )
    assert 'A quote is not closed: write phrases as "exact words".' in output
    assert "since should be a date like 2026-01-31 (got 'last-week')." in output
    assert "Unknown option colour:" in output
    assert "Say what to look for, not only what to leave out" in output
    assert "What should I look for?" in output
    assert "No insights match" in output
    assert "3 insight(s) match “review”" in output  # nothing was harmed by the odd queries


async def test_tags_lists_tags_with_counts(database_url: str, tmp_path: Path) -> None:
    output = await run_script(make_config(database_url, tmp_path), [*SEEDED, "/tags"])
    assert "5 tag(s): #review (2) · #learning (1) · #onboarding (1)" in output


async def test_help_lists_every_command_from_the_table(database_url: str, tmp_path: Path) -> None:
    from bot.commands.table import build_command_table

    output = await run_script(
        make_config(database_url, tmp_path), ["/help", "/help search", "/serch x"]
    )
    for name in build_command_table().names():
        assert f"/{name}" in output
    assert "since: only insights captured on or after" in output
    assert "Unknown command /serch. Did you mean /search?" in output


async def test_bad_tags_and_options_are_explained(database_url: str, tmp_path: Path) -> None:
    output = await run_script(
        make_config(database_url, tmp_path),
        [
            "/insight Mind the gap #bad!tag",
            "/insight show abc",
            "/insight show",
            "/insight retag 1 plain words",
            "/insight " + "x" * 4001,
            "/insight",
            "/tags",
        ],
    )
    assert "Tag #bad!tag can only contain letters, digits" in output
    assert "Captured insight #1 from alice: “show abc”" in output  # no id: it is text
    assert "Missing id. Usage: /insight show <id>" in output
    assert "To keep it as text instead: /insight add show" in output
    assert "There is no insight #1 in this community." in output or "Write tags with '#'" in output
    assert "the limit is 4,000" in output
    assert "Nothing to capture" in output
    assert "No tags yet" in output


async def test_export_is_for_curators_and_writes_all_three_formats(
    database_url: str, tmp_path: Path
) -> None:
    output = await run_script(
        make_config(database_url, tmp_path), [*SEEDED, "/export", ":as cora", "/export"]
    )
    assert "Only curators can use /export." in output
    exports = list((tmp_path / "exports").iterdir())
    assert len(exports) == 1
    lines = (exports[0] / "insights.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 4
    assert {json.loads(line)["author_name"] for line in lines} == {"alice", "bob"}
    assert len(list((exports[0] / "markdown").glob("*.md"))) == 4
    assert (exports[0] / "insights.csv").exists()


async def test_forget_me_previews_then_deletes_own_words_and_anonymises_curation(
    database_url: str, tmp_path: Path
) -> None:
    output = await run_script(
        make_config(database_url, tmp_path),
        [
            "Alice's own thought",
            ":as bob",
            "/insight Bob's words #mine",
            ":react 1 💡",
            "/forget-me confirm",
            "/forget-me",
            "/forget-me confirm",
            ":as alice",
            "/search words",
            "/insight show 2",
        ],
    )
    assert "Run /forget-me first" in output
    assert "1 insight(s) you authored and 1 message(s) of yours will be deleted" in output
    assert "1 insight(s) you captured from others stay, without your name" in output
    assert "Deleted 1 insight(s)" in output
    assert "No insights match “words”." in output
    assert "by alice · captured by a former member" in output
