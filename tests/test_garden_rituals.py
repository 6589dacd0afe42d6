"""Ritual history on the garden, for members of the community: rounds, completion per
month as an SVG plot, syntheses; anonymous answers stay anonymous. SQLite and PostgreSQL.
"""

from __future__ import annotations

import io
import re
from datetime import timedelta
from pathlib import Path

from bot.app import Hearth
from knowledge.clock import ManualClock
from tests.harness.console_harness import MONDAY_8, Step, at, line, make_config, run_script
from tests.harness.garden_harness import (
    GUILD_DESCRIPTION,
    WEB,
    Fetched,
    Visitor,
    link_token,
    post,
)

START = MONDAY_8 - timedelta(days=7)  # rounds on 23 and 30 Nov, 7 Dec (Berlin)
NINE = START + timedelta(hours=1)
WHISPER = "I feel overloaded by the release"


def prompt(out: io.StringIO) -> str:
    """The number of the newest reflection prompt in the console."""
    return re.findall(r"#(\d+) hearth: 💭", out.getvalue())[-1]


def three_weeks(clock: ManualClock, out: io.StringIO, add_reflection: bool = True) -> list[Step]:
    """A weekly reflection answered by alice and bob, then by nobody, then by bob; an
    anonymous check-in that quinn answers by direct message. `add_reflection=False`: the
    reflection (Mondays at 9:00 in #general) is there already."""
    week = timedelta(days=7)
    reflection = ["/ritual add reflection #general weekly on monday at 9:00", "/ritual confirm"]
    return [
        ":as cora",
        ":channel general",
        *(reflection if add_reflection else []),
        "/ritual add checkin here weekly on monday at 9:00 name:pulse anonymous:yes window:1d",
        "/ritual confirm",
        at(clock, NINE),
        ":as alice",
        line(lambda: f":reply {prompt(out)} Writing the test first kept me calm #testing"),
        ":as bob",
        line(lambda: f":reply {prompt(out)} Pairing made reviews faster #pairing"),
        ":as quinn",
        f":dm /ritual answer pulse {WHISPER}",
        at(clock, NINE + timedelta(days=2)),  # both close, syntheses posted
        at(clock, NINE + week),
        at(clock, NINE + week + timedelta(days=2)),  # closed without responses
        at(clock, NINE + 2 * week),
        ":as bob",
        line(lambda: f":reply {prompt(out)} Smaller batches, fewer surprises"),
        at(clock, NINE + 2 * week + timedelta(days=2)),
    ]


async def test_members_see_rounds_completion_and_syntheses_with_anonymous_answers_unnamed(
    database_url: str, tmp_path: Path
) -> None:
    clock = ManualClock(START)
    config = make_config(database_url, tmp_path, extra=WEB, community_extra=GUILD_DESCRIPTION)
    out = io.StringIO()
    seen: dict[str, Fetched] = {}

    async def look(hearth: Hearth) -> None:
        signed = await post(hearth, "/login", {"token": link_token(out)})
        cookie = {"Cookie": signed.headers["Set-Cookie"].split(";")[0]}
        seen["member"] = await Visitor.get(hearth, "/c/guild/rituals", cookie)
        seen["community"] = await Visitor.get(hearth, "/c/guild/", cookie)
        seen["visitor"] = await Visitor.get(hearth, "/c/guild/rituals")
        seen["public_community"] = await Visitor.get(hearth, "/c/guild/")

    printed = await run_script(
        config,
        [*three_weeks(clock, out), ":as alice", "/garden login", look],
        clock,
        out=out,
    )
    assert "🧭 pulse: round closed with 1 response(s)" in printed  # the rounds really ran

    page = seen["member"]
    assert page.status == 200 and page.headers["Cache-Control"] == "private, no-store"
    text = page.text
    pulse, reflection = text.split('id="ritual-1"')[1].split('id="ritual-2"')  # by name
    assert "pulse" in pulse and "reflection" in reflection
    assert "2 of 3 rounds answered (67%), 3 responses from 2 people" in reflection
    assert "1 of 3 rounds answered (33%), 1 response from 1 person" in pulse
    # completion per month, drawn on the server: November's two rounds, December's one
    assert '<svg class="plot"' in reflection
    assert "Rounds answered per month, 2026-07 to 2026-12: 2 of 3" in reflection
    assert "50% of 2 round(s) answered in 2026-11" in reflection
    assert "100% of 1 round(s) answered in 2026-12" in reflection
    assert "0%: no rounds in 2026-10" in reflection
    # the syntheses as chat showed them, newest round first
    assert reflection.index("2026-12-07") < reflection.index("2026-11-30")
    assert "round closed with 2 response(s) from alice, bob" in reflection
    assert "• alice: Writing the test first kept me calm #testing" in reflection
    assert "this round closed without responses" in reflection
    assert "React 💡" not in text  # a chat gesture, not for the web
    # anonymous answers stay anonymous
    assert "• anonymous: " + WHISPER in pulse
    assert "quinn" not in text

    assert 'href="/c/guild/rituals"' in seen["community"].text
    assert seen["visitor"].status == 404
    assert 'href="/c/guild/rituals"' not in seen["public_community"].text
    assert WHISPER not in seen["public_community"].text


async def test_an_anonymous_round_counts_its_distinct_members_in_chat_and_on_the_garden(
    database_url: str, tmp_path: Path
) -> None:
    clock = ManualClock(START)
    config = make_config(database_url, tmp_path, extra=WEB, community_extra=GUILD_DESCRIPTION)
    out = io.StringIO()
    seen: dict[str, Fetched] = {}

    async def look(hearth: Hearth) -> None:
        signed = await post(hearth, "/login", {"token": link_token(out)})
        cookie = {"Cookie": signed.headers["Set-Cookie"].split(";")[0]}
        seen["member"] = await Visitor.get(hearth, "/c/guild/rituals", cookie)

    printed = await run_script(
        config,
        [
            ":as cora",
            "/ritual add checkin here weekly on monday at 9:00 name:pulse anonymous:yes window:1d",
            "/ritual confirm",
            at(clock, NINE),
            ":as alice",
            ":dm /ritual answer pulse Tired",
            ":dm /ritual answer pulse And a bit lost",
            ":as bob",
            ":dm /ritual answer pulse Fine",
            ":as quinn",
            f":dm /ritual answer pulse {WHISPER}",
            at(clock, NINE + timedelta(days=1)),
            ":as cora",  # signed in as someone who did not answer
            "/garden login",
            look,
        ],
        clock,
        out=out,
    )
    synthesis = printed.split("🧭 pulse: ")[1].split("\n")[0]
    assert synthesis == "round closed with 4 response(s) from 3 member(s)"
    page = seen["member"].text
    assert "round closed with 4 response(s) from 3 member(s)" in page
    assert not any(name in page for name in ("alice", "bob", "quinn"))
