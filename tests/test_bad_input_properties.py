"""Arbitrary text, bytes and unicode into the three parsers people type into: the command
parser, the search query parser and the schedule parser. Nothing escapes but a UserError
with a message, no call takes over a second (hypothesis's own deadline), and a console
session fed such lines keeps reading to its last line (issue #22)."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.commands.parse import find_command, parse, split_command_line
from bot.commands.table import build_command_table
from bot.handlers.search import SEARCH, plan_search
from knowledge.errors import UserError
from knowledge.search.query import parse_terms
from knowledge.views import CommunityInfo
from scheduling.schedule import parse_schedule
from tests.harness.console_harness import make_config, run_script

TABLE = build_command_table()
COMMUNITY = CommunityInfo(1, "guild", "The Guild", "Europe/Berlin")
ONE_SECOND = settings(deadline=timedelta(seconds=1), max_examples=300)

COMMAND_WORDS = [
    *(c.name for c in TABLE.commands),
    *(s.name for c in TABLE.commands for s in c.subcommands),
    "Edit", "SHARE", "add", "#12", "12", "0", "-1", "99999999999999999999", "9" * 400, "²",
    "٣", "page:", "page:2", "page:99999999999999999999999", "tag:", "tag:x", "tag:#", "message:",
    "message:42", "since:", "since:2026-01-01", "since:2026-13-45", "author:", "scope:",
    "scope:constellation", "for:", "for:nowhere", "to", "all", '"', '""', "-", "--", "-x",
    ":", "::", "#", "#tag", "@bob", "|", "\x00", "\u200b", "\u2028", "\t", "🔥", "💡",
]  # fmt: skip
SCHEDULE_WORDS = [
    "every", "each", "99999999999", "52", "53", "0", "2", "31", "32", "weeks", "week", "day",
    "days", "month", "months", "on", "at", "the", "of", "monday", "fri", "weekdays", "weekend",
    "first", "last", "fifth", "6th", "31st", "day", "9:00", "25:00", "12pm", "13pm", "noon",
    "9", "16h30", "daily", "weekly", "monthly", "other", "fortnightly", "biweekly", "*", "*/15",
    "1-5", "mon-fri", "fri-mon", "1st", "tue", "7", "8", "0,30", "9" * 400, "²", "٣", "\x00",
]  # fmt: skip


def _bytes_as_text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def _phrases(words: list[str]) -> st.SearchStrategy[str]:
    token = st.sampled_from(words) | st.text(max_size=6)
    return st.lists(token, max_size=12).map(" ".join)


def anything(words: list[str]) -> st.SearchStrategy[str]:
    """Unicode (surrogates too), undecodable bytes, and near-misses of the real grammar."""
    return st.one_of(
        st.text(max_size=300), st.binary(max_size=300).map(_bytes_as_text), _phrases(words)
    )


@ONE_SECOND
@given(anything(COMMAND_WORDS), st.sampled_from(["/", "!"]))
def test_the_command_parser_answers_anything_with_a_command_or_a_message(
    line: str, prefix: str
) -> None:
    split = split_command_line(prefix + line, prefix)
    if split is None:
        return
    name, rest = split
    try:
        command = find_command(TABLE, name, prefix)
    except UserError as exc:
        assert exc.message
        command = TABLE.commands[len(line) % len(TABLE.commands)]
    for target in (command, *(c for c in TABLE.commands if c.subcommands)):
        try:
            parsed = parse(target, rest, prefix)
        except UserError as exc:
            assert exc.message and len(exc.message) < 2000
        else:
            assert parsed.path.startswith(target.name)


@ONE_SECOND
@given(anything(COMMAND_WORDS))
def test_the_search_query_parser_answers_anything_with_terms_or_a_message(text: str) -> None:
    try:
        parse_terms(text)
    except UserError as exc:
        assert exc.message
    try:
        plan_search(parse(SEARCH, text).args, COMMUNITY)
    except UserError as exc:
        assert exc.message


@ONE_SECOND
@given(
    anything(SCHEDULE_WORDS),
    st.sampled_from(["Europe/Berlin", "America/New_York", "UTC", "Pacific/Chatham"]),
    st.dates(date(2000, 1, 1), date(2100, 12, 31)),
)
def test_the_schedule_parser_answers_anything_with_a_schedule_or_a_message(
    text: str, zone: str, today: date
) -> None:
    try:
        schedule = parse_schedule(text, zone, today)
    except UserError as exc:
        assert exc.message
        return
    after = datetime.combine(today, datetime.min.time(), UTC)
    times = schedule.next_times(after, 5)
    assert times == sorted(times) and all(t > after for t in times)
    if times:
        latest = schedule.latest_at_or_before(times[-1], after)
        assert latest == times[-1]


def _line(words: list[str]) -> st.SearchStrategy[str]:
    starts = st.sampled_from(
        ["/insight", "/search", "/ritual add retro #general", "/ritual", "/tags", "/help",
         "/constellation invite", "/relay", "/summarize", "/forget-me", "/export", "/ask",
         ":react 1", ":reply 1", ":edit 1", ":delete 1", ":as", ":channel", "", "/"]
    )  # fmt: skip
    rest = anything(words).map(lambda s: s.replace("\n", " ").replace("\r", " "))
    return st.tuples(starts, rest).map(lambda p: f"{p[0]} {p[1]}".strip() or "x")


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(lines=st.lists(_line(COMMAND_WORDS + SCHEDULE_WORDS), min_size=1, max_size=12))
def test_a_console_session_keeps_reading_whatever_it_is_fed(
    lines: list[str], sqlite_template: Path
) -> None:
    lines = [ln for ln in lines if not ln.strip().startswith((":q", ":quit"))]
    with tempfile.TemporaryDirectory() as folder:
        where = Path(folder)
        shutil.copy(sqlite_template, where / "hearth.db")
        config = make_config(f"sqlite:///{where / 'hearth.db'}", where)
        script = [":as cora", *lines, ":as alice", ":channel general", "still reading"]
        output = asyncio.run(asyncio.wait_for(run_script(config, script), 120))  # hang guard
    assert "alice: still reading" in output.splitlines()[-1]
    assert "Something went wrong" not in output
    assert "Traceback" not in output
