"""Shared knowledge across a link between two real Hearth deployments (two `hearth run`
processes, two SQLite databases, two ports on 127.0.0.1; the harness of
tests/test_federation_links.py): the guild's shared insight is found on the forge's
deployment with `scope:constellation`, credited `cora (guild@host)`, its edit follows,
the forge adopts it and the guild's `/constellation knowledge` counts that until the
copy is deleted; un-sharing and `/forget-me` take it away over there. While the forge's
deployment is down, what the guild shares and edits waits in the delivery queue and
arrives once, edited, when it is back. Each side waits on
what its user would see (a command answered again until the answer changes), never a
sleep. Leaving the link drops, on each side, what came over it (the forge's adopted
copy stays, credited, as inside one deployment); a pause on one side is a pause on
both."""

from __future__ import annotations

import random
import re
import sqlite3
import time
from contextlib import closing

import pytest

from tests.harness.processes import HearthProcess
from tests.test_federation_links import BANNER, Deployment, link, pair

__all__ = ["pair"]

NONE = r"No insights match|No linked community shares"
SOME = r"insight\(s\) match"
OTHER = r"they adopted \d+ of ours|No linked community shares"


def until(process: HearthProcess, command: str, want: str, other: str) -> re.Match[str]:
    """Ask again until the answer shows `want` (each answer ends in `want` or `other`);
    a minute without it is a failure."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        process.send(command)
        found = process.expect_where(lambda line: re.search(f"{want}|{other}", line), want)
        if re.search(want, found[0]):
            return re.search(want, found[0]) or found
    raise AssertionError(process.describe(f"never saw {want!r}"))


def link_sharing(
    guild: HearthProcess, forge: HearthProcess, garden: Deployment, works: Deployment
) -> None:
    """Link the two deployments, both stewards agreeing to share knowledge over it."""
    link(guild, forge, garden.host)
    guild.send(":as steve", f"/constellation share forge@{works.host} on")
    guild.expect(r"This community agrees to share knowledge with The Forge")
    forge.send(f"/constellation share guild@{garden.host} on")
    forge.expect(r"share knowledge with The Guild")


@pytest.mark.slow
def test_shared_knowledge_edits_adoption_unsharing_and_forget_me_cross_deployments(
    pair: tuple[Deployment, Deployment],
) -> None:
    garden, works = pair
    with (
        HearthProcess(garden.config, garden.workdir) as guild,
        HearthProcess(works.config, works.workdir) as forge,
    ):
        link_sharing(guild, forge, garden, works)

        guild.send(":as cora", "/insight Pair on release days @everyone #practice")
        kept = guild.expect(r"Captured insight #(\d+) from cora: “Pair on release days")[1]
        guild.send(f"/insight share {kept} constellation")
        guild.expect(rf"Insight #{kept} is now constellation")
        search = "/search release scope:constellation"
        hit = until(forge, search, r"#(\d+) \(from The Guild\) (.*)", NONE)
        theirs = hit[1]
        assert "@everyone" not in hit[2] and "@\u200beveryone" in hit[2], "defused"
        forge.expect(rf"cora \(guild@{re.escape(garden.host)}\)")  # credited community@host

        guild.send(f"/insight edit {kept} Pair on release days and demos")
        guild.expect(r"Updated")
        until(forge, "/search demos scope:constellation", r"\(from The Guild\) Pair on", NONE)

        forge.send(f"/insight adopt {theirs}")
        copy = forge.expect(r"Adopted as insight #(\d+), credited to cora \(guild@")[1]
        guild.send(":as steve")
        knowledge = "/constellation knowledge"
        until(guild, knowledge, r"they adopted 1 of ours", OTHER)
        forge.send(f"/insight delete {copy}")
        forge.expect(rf"Deleted insight #{copy}")
        until(guild, knowledge, r"they adopted 0 of ours", OTHER)

        guild.send(":as cora", f"/insight share {kept} community")
        until(forge, search, NONE, SOME)

        guild.send("/insight Keep demos short #demo")
        demo = guild.expect(r"Captured insight #(\d+) from cora: “Keep demos short")[1]
        guild.send(f"/insight share {demo} constellation")
        until(forge, "/search short scope:constellation", r"\(from The Guild\) Keep", NONE)
        guild.send("/forget-me", "/forget-me confirm")
        guild.expect(r"(?i)forgotten|deleted")
        until(forge, "/search short scope:constellation", NONE, SOME)

        forge.send(search.replace("release", "demos"))
        forge.expect(NONE)
        assert forge.quit() == 0, forge.describe("unclean exit")

        # the forge's deployment is down: what the guild shares meanwhile waits, retried
        guild.send(":as steve", "/insight Write the runbook before the release #ops")
        late = guild.expect(r"Captured insight #(\d+) from steve: “Write the runbook")[1]
        guild.send(f"/insight share {late} constellation")
        guild.expect(rf"Insight #{late} is now constellation")
        guild.send(f"/insight edit {late} Write the runbook before the release, then test it")
        guild.expect(r"Updated")
        with HearthProcess(works.config, works.workdir) as again:
            again.expect(BANNER)
            again.send(":as fran", ":channel hall")
            runbook = "/search runbook scope:constellation"
            until(again, runbook, r"\(from The Guild\) Write the runbook.*then test it", NONE)
            again.send(runbook)
            again.expect(r"🔎 1 insight\(s\) match “runbook”")  # once
            assert again.quit() == 0, again.describe("unclean exit")
        assert guild.quit() == 0, guild.describe("unclean exit")
        for process in (guild, forge, again):
            assert "Traceback" not in process.stderr(), process.describe("a traceback")
    hits = [line for line in forge.lines if re.search(r"\(from The Guild\) Pair on release", line)]
    assert hits and all("days and demos" in h or "days @" in h for h in hits)


def rows(deployment: Deployment, community: str, body: str = "%") -> int:
    """Insights of a community (a LIKE pattern: `guild@%` is the other deployment's) in
    this deployment's database: what a database dump would show."""
    with closing(sqlite3.connect(deployment.workdir / "hearth.db")) as db:
        (count,) = db.execute(
            "SELECT count(*) FROM insights JOIN communities ON communities.id = community_id"
            " WHERE communities.slug LIKE ? AND insights.body LIKE ?",
            (community, body),
        ).fetchone()
    return int(count)


@pytest.mark.slow
def test_pause_is_mirrored_and_leaving_drops_what_each_deployment_received(
    pair: tuple[Deployment, Deployment],
) -> None:
    garden, works = pair
    with (
        HearthProcess(garden.config, garden.workdir) as guild,
        HearthProcess(works.config, works.workdir) as forge,
    ):
        link_sharing(guild, forge, garden, works)
        guild.send(":as cora", "/insight Pair on release days #practice")
        kept = guild.expect(r"Captured insight #(\d+) from cora: “Pair on release days")[1]
        guild.send(f"/insight share {kept} constellation")
        forge.send("/insight Rotate the on-call rota weekly #ops")
        rota = forge.expect(r"Captured insight #(\d+) from fran: “Rotate the on-call")[1]
        forge.send(f"/insight share {rota} constellation")
        theirs = until(forge, "/search release scope:constellation", r"#(\d+) \(from The", NONE)
        until(guild, "/search rota scope:constellation", r"\(from The Forge\) Rotate", NONE)
        forge.send(f"/insight adopt {theirs[1]}")
        forge.expect(r"Adopted as insight #(\d+), credited to cora \(guild@")
        guild.send(":as steve")
        until(guild, "/constellation knowledge", r"they adopted 1 of ours", OTHER)

        # a pause is told: both deployments agree the link is paused, and neither finds
        # the other's knowledge meanwhile (as inside one deployment); the resume likewise
        guild.send(f"/constellation pause forge@{works.host}")
        guild.expect(r"Relays with The Forge are paused")
        forge.expect(r"The Guild paused the link \(both ways\)")
        forge.send("/constellation list")
        forge.expect(r"The Guild \(guild@.*paused by The Guild")
        forge.send("/constellation knowledge")
        forge.expect(r"No linked community shares")
        guild.send(f"/constellation resume forge@{works.host}")
        forge.expect(r"The Guild resumed the link")
        until(forge, "/constellation knowledge", r"we adopted 1 of theirs", OTHER)

        guild.send(f"/constellation leave forge@{works.host}")
        guild.expect(r"Left the link with The Forge")
        forge.expect(rf"guild@{garden.host} left the link")
        forge.send("/search release")  # the forge's adopted copy stays, credited
        forge.expect(r"1 insight\(s\) match “release”")
        assert forge.quit() == 0 and guild.quit() == 0, forge.describe("unclean exit")
        for process in (guild, forge):
            assert "Traceback" not in process.stderr(), process.describe("a traceback")
    # the guild's shared insight left the forge's database, and the forge's shared insight
    # and its adoption credit left the guild's: both sides, with no Delete sent
    assert rows(works, "guild@%") == 0
    assert rows(garden, "forge@%") == 0


@pytest.mark.slow
def test_kill_9_of_either_deployment_during_a_burst_of_shares_loses_and_repeats_nothing(
    pair: tuple[Deployment, Deployment],
) -> None:
    """The receiving deployment killed while a burst of shared insights arrives (and one
    is edited meanwhile), then the sending one killed mid-burst: after each restart every
    insight is found over there once, the edited one edited."""
    garden, works = pair
    rng = random.Random(19)
    found = r"🔎 \d+ insight\(s\) match|No insights match"
    with (
        HearthProcess(garden.config, garden.workdir) as guild,
        HearthProcess(works.config, works.workdir) as forge,
    ):
        link_sharing(guild, forge, garden, works)
        guild.send("/constellation default constellation")
        guild.expect(r"New insights in this community start as \*{0,2}constellation")

        guild.send(":as cora", *(f"/insight Burstword note {n} #first" for n in range(1, 13)))
        first = guild.expect(r"Captured insight #(\d+) from cora: “Burstword note 1\b")[1]
        until(forge, "/search burstword scope:constellation", r"🔎 \d+ insight", NONE)
        forge.kill(after=rng.uniform(0, 0.05))
        guild.expect(r"Captured insight #\d+ from cora: “Burstword note 12\b")
        guild.send(f"/insight edit {first} Burstword note 1, edited while they were down")
        guild.expect(r"Updated")
        with HearthProcess(works.config, works.workdir) as again:
            again.expect(BANNER)
            again.send(":as fran", ":channel hall")
            burst = "/search burstword tag:first scope:constellation"
            until(again, burst, r"🔎 12 insight", found)

            guild.send(*(f"/insight Secondword note {n} #second" for n in range(1, 13)))
            guild.expect(r"Captured insight #\d+ from cora: “Secondword note 3\b")
            guild.kill(after=rng.uniform(0, 0.05))
            with HearthProcess(garden.config, garden.workdir) as back:
                back.expect(BANNER)
                kept = rows(garden, "guild", "Secondword note %")  # captured before the kill
                assert kept >= 3, back.describe("captures answered before the kill")
                second = "/search secondword tag:second scope:constellation"
                until(again, second, rf"🔎 {kept} insight", found)
                assert back.quit() == 0, back.describe("unclean exit")
            again.send(burst)
            again.expect(r"🔎 12 insight\(s\) match")  # once, still
            assert again.quit() == 0, again.describe("unclean exit")
        for process in (guild, forge, again, back):
            assert "Traceback" not in process.stderr(), process.describe("a traceback")
    assert rows(works, "guild@%", "Secondword note %") == kept, "each arrived once"
    assert rows(works, "guild@%", "Burstword note %") == 12, "each arrived once"
    assert rows(works, "guild@%", "%edited while they were down%") == 1, "the edit arrived"
    unedited = rows(works, "guild@%", "Burstword note 1") + rows(works, "guild@%", "% 1 #%")
    assert unedited == 0, "and replaced the first words"
