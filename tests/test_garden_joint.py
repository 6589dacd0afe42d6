"""Joint rituals on the garden, for signed-in members: a joint round's insights side by
side by community (their own, and only what linked communities share with theirs), and
the constellation pulse as small plots. Visitors and other communities' members get 404.
Set up through chat on three console communities, as tests/test_joint_rituals_console.py.
"""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from bot.app import Hearth
from knowledge.clock import ManualClock
from tests.harness.config_builder import FORGE, GUILD, MILL, build_config
from tests.harness.console_harness import Step, line, run_script
from tests.harness.garden_harness import WEB, Fetched, Visitor, captured, link_token, post
from tests.test_garden import links_in
from tests.test_joint_rituals_console import (
    CLOSE,
    FORGE_17,
    MONDAY_8,
    NINE,
    at,
    messages,
    prompt_id,
    setup,
)

BOB = "Pairing made reviews faster #pairing"
DANA = "Pairing with QA found bugs early #pairing"  # the Forge shares it with the Guild
ERIN = "Our deploys scare me"  # kept by the Forge for itself
MIA = "Checklists made reviews faster #testing"  # the Mill shares, but not with the Guild
MILO = "Standups ran shorter with a timer"  # the Mill makes it public: anyone sees it


async def crawl(hearth: Hearth) -> dict[str, Fetched]:
    """Every garden page a visitor reaches by following links from the home page."""
    base = Visitor.base(hearth)
    seen: dict[str, Fetched] = {}
    queue = ["/"]
    while queue:
        path = queue.pop(0)
        if path in seen:
            continue
        page = seen[path] = await Visitor.get(hearth, path)
        for link in links_in(page.text, page.headers.get("Content-Type", "")):
            parts = urlsplit(urljoin(base + path, link))
            if f"{parts.scheme}://{parts.netloc}" == base and parts.path != "/search":
                queue.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return seen


def reply_id(tmp_path: Path, channel: str, text: str) -> str:
    return str(next(m["id"] for m in messages(tmp_path, channel) if m["text"] == text))


def reply(channel: str, text: str, tmp_path: Path, out: io.StringIO) -> Step:
    return line(lambda: f":reply {prompt_id(out, channel, tmp_path)} {text}")


def keep(channel: str, text: str, tmp_path: Path) -> Step:
    return line(lambda: f":react {reply_id(tmp_path, channel, text)} 💡")


def joint_round(out: io.StringIO, clock: ManualClock, tmp_path: Path) -> list[Step]:
    """Round 1 of the Guild's joint reflection: each community keeps insights from its
    replies; the Guild makes bob's public; the Forge and the Guild share knowledge and one insight with the
    constellation; the Mill shares one insight but not its knowledge with the Guild, and
    makes another public."""
    return [
        *setup(out),
        ":as fran",
        ":channel hall",
        "/constellation share guild on",
        ":channel general",
        ":as steve",
        "/constellation share forge on",
        at(clock, NINE),
        ":as bob",
        reply("general", BOB, tmp_path, out),
        ":as mia",
        ":channel yard",
        reply("yard", MIA, tmp_path, out),
        ":as milo",
        reply("yard", MILO, tmp_path, out),
        keep("yard", MIA, tmp_path),
        line(lambda: f"/insight share {captured(out, MIA)} constellation"),
        keep("yard", MILO, tmp_path),
        line(lambda: f"/insight share {captured(out, MILO)} public"),
        ":channel general",
        at(clock, FORGE_17),
        ":channel hall",
        ":as dana",
        reply("hall", DANA, tmp_path, out),
        ":as erin",
        reply("hall", ERIN, tmp_path, out),
        ":as fran",
        keep("hall", DANA, tmp_path),
        keep("hall", ERIN, tmp_path),
        line(lambda: f"/insight share {captured(out, DANA)} constellation"),
        ":channel general",
        ":as cora",
        keep("general", BOB, tmp_path),
        line(lambda: f"/insight share {captured(out, BOB)} public"),
        at(clock, CLOSE),
        ":as bob",
        "/garden login",
    ]


async def test_a_member_sees_a_joint_rounds_insights_side_by_side_and_nothing_unshared(
    database_url: str, tmp_path: Path
) -> None:
    clock = ManualClock(MONDAY_8)
    out = io.StringIO()
    seen: dict[str, Fetched] = {}
    crawled: dict[str, Fetched] = {}
    forge = dataclasses.replace(FORGE, timezone="America/New_York")
    mill = dataclasses.replace(MILL, timezone="Asia/Tokyo")
    settings = build_config(database_url, tmp_path, GUILD, forge, mill, extra=WEB)

    async def look(hearth: Hearth) -> None:
        signed = await post(hearth, "/login", {"token": link_token(out)})
        cookie = {"Cookie": signed.headers["Set-Cookie"].split(";")[0]}
        for key, path in (
            ("round", "/c/guild/round/1"),
            ("history", "/c/guild/rituals"),
            ("pulse", "/c/guild/pulse"),
            ("other_round", "/c/forge/round/1"),
            ("other_pulse", "/c/forge/pulse"),
            ("no_round", "/c/guild/round/99"),
        ):
            seen[key] = await Visitor.get(hearth, path, cookie)
        seen["visitor_round"] = await Visitor.get(hearth, "/c/guild/round/1")
        seen["visitor_pulse"] = await Visitor.get(hearth, "/c/guild/pulse")
        crawled.update(await crawl(hearth))

    await run_script(settings, [*joint_round(out, clock, tmp_path), look], clock, out=out)
    assert captured(out, ERIN) and captured(out, MIA)  # both kept, in their communities

    page = seen["round"]
    assert page.status == 200 and page.headers["Cache-Control"] == "private, no-store"
    text = page.text
    assert "Joint round 1: insights side by side" in text
    guild, rest = text.split(">The Guild</h2>")[1].split(">The Forge</h2>")
    forge, mill = rest.split(">The Mill</h2>")  # their own first, then by name
    assert "Pairing made reviews faster" in guild and "bob" in guild
    assert "Pairing with QA found bugs early" in forge and "dana" in forge
    assert f'href="/c/forge/i/{captured(out, DANA)}"' in forge
    assert MILO in mill and f'href="/c/mill/i/{captured(out, MILO)}"' in mill  # public
    for unseen in (ERIN, "Checklists made reviews"):
        assert unseen not in text, unseen

    assert 'href="/c/guild/round/1"' in seen["history"].text
    assert 'href="/c/guild/pulse"' in seen["history"].text

    pulse = seen["pulse"]
    assert pulse.status == 200 and pulse.headers["Cache-Control"] == "private, no-store"
    plots = pulse.text
    assert plots.count('<svg class="plot"') == 5
    assert "Insights captured: The Guild 1, The Forge 2, The Mill 2" in plots
    assert "Insights shared: The Guild 1, The Forge 1, The Mill 2" in plots
    assert "Ritual rounds answered: The Guild 1 of 1 (100%)" in plots
    assert "People who answered rituals: The Guild 1, The Forge 2, The Mill 2" in plots
    for word in (BOB, DANA, ERIN, MIA, MILO):  # counts only
        assert word not in plots

    visitor = seen["visitor_round"]  # the public part of the round, nothing else
    assert visitor.status == 200 and "Pairing made reviews faster" in visitor.text
    assert MILO in visitor.text
    assert '<link rel="canonical"' in visitor.text and "noindex" not in visitor.text
    for unseen in (DANA, ERIN, "Checklists made reviews", "The Forge"):
        assert unseen not in visitor.text, unseen

    # a crawler from the home page reaches the round through the community page, and
    # finds nothing of the round that is not public
    assert "/c/guild/round/1" in crawled and len(crawled) > 5, sorted(crawled)
    for path, fetched in crawled.items():
        assert fetched.status == 200, path
        for unseen in (DANA, ERIN, MIA, "/pulse"):
            assert unseen not in fetched.text, (path, unseen)

    for key in ("other_round", "other_pulse", "no_round", "visitor_pulse"):
        assert seen[key].status == 404, key
        for word in (BOB, DANA, ERIN, MIA):
            assert word not in seen[key].text, (key, word)
