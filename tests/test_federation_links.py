"""Constellation links across deployments, tested with two real Hearth deployments: two
processes (`hearth run`), two SQLite databases, two ports on 127.0.0.1 (plain HTTP only
through `allow_loopback_for_tests`), each with its console. A steward of one invites, a
steward of the other accepts `code@host`; then a thread is relayed both ways, edited and
deleted, and one deployment is down for a while: what was said meanwhile arrives once, in
order, when it is back. Real wall clock (the signatures' Date window)."""

from __future__ import annotations

import random
import re
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.app import Hearth
from bot.config import Config
from bot.federation.links import parse_code
from knowledge.clock import ManualClock
from tests.harness.config_builder import FORGE, GUILD, Community, write_config
from tests.harness.console_harness import make_config, run_script
from tests.harness.processes import HearthProcess
from tests.test_federation import PASSPHRASE_ENV, START, fed_config, free_port
from tests.test_relay_crash import messages, posted_by_alice

__all__ = ["fed_config"]  # the fixture, shared with tests/test_federation.py

BANNER = r"^Hearth console: you are alice"
CODE = r"accept (HL-[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}@127\.0\.0\.1:\d+)"


@dataclass(frozen=True)
class Deployment:
    config: Path
    workdir: Path
    port: int

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"


def deployment(tmp_path: Path, template: Path, name: str, community: Community) -> Deployment:
    workdir = tmp_path / name
    workdir.mkdir()
    shutil.copy(template, workdir / "hearth.db")
    port = free_port()
    extra = f"""
[web]
listen = "127.0.0.1:{port}"

[federation]
enabled = true
key_passphrase = "${{{PASSPHRASE_ENV}}}"
allow_loopback_for_tests = true
poll_seconds = 1.0

[relay]
backoff_seconds = 0.2
max_backoff_seconds = 1.0
"""
    config = write_config(
        workdir / "hearth.toml",
        f"sqlite:///{workdir / 'hearth.db'}",
        community,
        transcript=workdir / "console.jsonl",
        extra=extra,
    )
    return Deployment(config, workdir, port)


@pytest.fixture
def pair(
    tmp_path: Path, sqlite_template: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Deployment, Deployment]]:
    monkeypatch.setenv(PASSPHRASE_ENV, "two deployments, one passphrase each would do too")
    yield (
        deployment(tmp_path, sqlite_template, "garden", GUILD),
        deployment(tmp_path, sqlite_template, "works", FORGE),
    )


def link(guild: HearthProcess, forge: HearthProcess, guild_host: str) -> None:
    """Steve invites on the guild's deployment; Fran accepts on the forge's."""
    guild.expect(BANNER)
    forge.expect(BANNER)
    guild.send(":as steve", "/constellation invite")
    code = guild.expect(CODE)[1]
    assert code.endswith("@" + guild_host)
    forge.send(":as fran", ":channel hall", f"/constellation accept {code}")
    forge.expect(r"Asked The Guild \(guild@127\.0\.0\.1:\d+\) to confirm")
    forge.expect(r"Linked with The Guild \(guild@")
    guild.expect(r"forge@127\.0\.0\.1:\d+ accepted the link")
    guild.expect(r"Linked with The Forge \(forge@")


@pytest.mark.slow
def test_two_deployments_link_and_relay_a_thread_both_ways_with_edits_and_deletions(
    pair: tuple[Deployment, Deployment],
) -> None:
    garden, works = pair
    with (
        HearthProcess(garden.config, garden.workdir) as guild,
        HearthProcess(works.config, works.workdir) as forge,
    ):
        link(guild, forge, garden.host)
        guild.send(":as steve", "/constellation list")
        guild.expect(r"The Forge \(forge@127\.0\.0\.1:\d+\), link #\d+: active; both ways")
        guild.send("/constellation invite")
        again = guild.expect(CODE)[1]
        forge.send(f"/constellation accept {again}")
        forge.expect(r"These two communities are already linked: see /constellation list\.")

        guild.send(":channel general", ":as alice", "Pairing with QA found bugs early @everyone")
        root = int(guild.expect(r"^#(\d+) alice: Pairing with QA")[1])
        guild.send(f":reply {root} /relay")
        copy = forge.expect(r"^#(\d+) alice \(The Guild\) via hearth: Pairing with QA(.*)$")
        assert "@everyone" not in copy[2], "a mass mention is defused on the copy"
        forge_root = int(copy[1])

        forge.send(":as bob", f":reply {forge_root} We pair on every release")
        bob = int(forge.expect(r"^#(\d+) bob → #\d+: We pair on every release")[1])
        back = guild.expect(rf"^#(\d+) bob \(The Forge\) via hearth → #{root}: We pair")
        guild_copy = int(back[1])

        guild.send(f":reply {root} And it made reviews faster")
        forge.expect(rf"alice \(The Guild\) via hearth → #{forge_root}: And it made reviews")

        forge.send(f":edit {bob} We pair on every release, and before demos")
        guild.expect(rf"^\* #{guild_copy} edited by hearth")
        forge.send(f":delete {bob}")
        guild.expect(rf"^\* #{guild_copy} deleted by hearth")

        forge.send(":as fran", "/relay status")
        forge.expect(r"The Guild \(guild@127\.0\.0\.1:\d+\) \(active\): \d+ delivered, 0 queued")

        guild.send(":as steve", f"/constellation leave forge@{works.host}")
        guild.expect(r"Left the link with The Forge")
        forge.expect(rf"guild@{garden.host} left the link: relays between us have stopped")
        forge.send(":as bob", f":reply {forge_root} Anyone still there?")
        forge.send(":as fran", "/constellation list")
        forge.expect(r"This community has no links yet")
        guild.send(":as steve", "/constellation list")
        guild.expect(r"Constellation links$")
        first = guild.next_line(time.monotonic() + 60) or ""  # links by id: #1 was the forge
        assert re.search(r"• #\d+: invitation waiting to be accepted", first), first
        assert guild.quit() == 0, guild.describe("unclean exit")
        assert forge.quit() == 0, forge.describe("unclean exit")
        for process in (guild, forge):
            assert "Traceback" not in process.stderr(), process.describe("a traceback")
        assert not any("Anyone still there" in line for line in guild.lines), "left: not relayed"


@pytest.mark.slow
def test_a_deployment_down_for_a_while_gets_everything_once_in_order_when_back(
    pair: tuple[Deployment, Deployment],
) -> None:
    garden, works = pair
    guild = HearthProcess(garden.config, garden.workdir)
    with guild, HearthProcess(works.config, works.workdir) as forge:
        link(guild, forge, garden.host)
        guild.send(":channel general", ":as alice", "Release notes thread")
        root = int(guild.expect(r"^#(\d+) alice: Release notes thread")[1])
        guild.send(f":reply {root} /relay")
        forge_root = int(forge.expect(r"^#(\d+) alice \(The Guild\) via hearth: Release")[1])
        assert forge.quit() == 0, forge.describe("unclean exit")

        guild.send(*(f":reply {root} note {n}" for n in range(1, 11)))
        guild.expect(r"alice → #\d+: note 10$")
        with HearthProcess(works.config, works.workdir) as again:
            again.expect(BANNER)
            seen = [
                int(again.expect(rf"via hearth → #{forge_root}: note (\d+)$", timeout=120)[1])
                for _ in range(10)
            ]
            assert again.quit() == 0, again.describe("unclean exit")
        assert seen == list(range(1, 11)), "everything arrives, in order"
        lines = "\n".join(again.lines)
        for n in range(1, 11):
            assert len(re.findall(rf"via hearth → #{forge_root}: note {n}$", lines, re.M)) == 1
        assert guild.quit() == 0, guild.describe("unclean exit")


@pytest.mark.slow
def test_kill_9_of_either_deployment_during_a_burst_loses_and_repeats_nothing(
    pair: tuple[Deployment, Deployment],
) -> None:
    """The receiver killed mid-burst (its inbox had answered 202 for some, handled fewer),
    then the sender killed mid-burst (some copies posted there, not yet marked sent):
    every message arrives on the other deployment exactly once, in order."""
    garden, works = pair
    rng = random.Random(19)
    with (
        HearthProcess(garden.config, garden.workdir) as guild,
        HearthProcess(works.config, works.workdir) as forge,
    ):
        link(guild, forge, garden.host)
        guild.send(":channel general", ":as alice", "Burst root")
        root = int(guild.expect(r"^#(\d+) alice: Burst root")[1])
        guild.send(f":reply {root} /relay")
        forge_root = int(forge.expect(r"^#(\d+) alice \(The Guild\) via hearth: Burst")[1])

        guild.send(*(f":reply {root} m{n}" for n in range(1, 41)))
        forge.expect(rf"via hearth → #{forge_root}: m10$", timeout=120)
        forge.kill(after=rng.uniform(0, 0.05))
        with HearthProcess(works.config, works.workdir) as again:
            again.expect(BANNER)
            again.expect(rf"via hearth → #{forge_root}: m40$", timeout=120)

            guild.send(*(f":reply {root} m{n}" for n in range(41, 81)))
            guild.expect(rf"alice → #{root}: m50$")
            guild.kill(after=rng.uniform(0, 0.05))
            missing = sorted(
                set(range(41, 81)) - posted_by_alice(garden.workdir / "console.jsonl", root)
            )
            with HearthProcess(garden.config, garden.workdir) as back:
                back.expect(BANNER)
                back.send(":channel general", ":as alice")
                back.send(*(f":reply {root} m{n}" for n in missing))
                again.expect(rf"via hearth → #{forge_root}: m80$", timeout=120)
                assert back.quit() == 0, back.describe("unclean exit")
            assert again.quit() == 0, again.describe("unclean exit")

    copies = [
        m
        for _, m in sorted(messages(works.workdir / "console.jsonl").items())
        if m.get("shown_as") == "alice (The Guild)" and m["reply_to"] == forge_root
    ]
    numbers = [int(m["text"].split("\n")[0][1:]) for m in copies]
    assert len(numbers) == len(set(numbers)), "a message was relayed twice"
    assert numbers == list(range(1, 81)), "lost or out of order"


async def test_bad_codes_and_unreachable_hosts_get_one_sentence(
    fed_config: Callable[[str], Config],
) -> None:
    """Mistyped, unknown, this deployment's own, an unreachable host: one sentence each,
    no link recorded."""
    nobody = free_port()

    async def unknown(hearth: Hearth) -> str:  # the right form, a code nobody issued
        assert hearth.ops is not None
        return f"/constellation accept HL-AAAA-BBBB-CCCC@localhost:{hearth.ops.port}"

    async def own(hearth: Hearth) -> str:
        assert hearth.ops is not None
        return f"/constellation accept HL-AAAA-BBBB-CCCC@127.0.0.1:{hearth.ops.port}"

    out = await run_script(
        fed_config(""),
        [
            ":as steve",
            "/constellation accept HL-AAAA@nowhere.example",
            unknown,
            own,
            f"/constellation accept HL-AAAA-BBBB-CCCC@127.0.0.1:{nobody}",
            "/constellation list",
        ],
        ManualClock(START),
    )
    assert "That is not an invitation code: it looks like HL-XXXX-XXXX-XXXX@host." in out
    assert "does not know that invitation code: it may be mistyped, expired or already" in out
    assert "That code is from this deployment: accept it without the @host part." in out
    assert f"Cannot reach 127.0.0.1:{nobody} right now" in out
    assert "This community has no links yet." in out
    assert "Traceback" not in out


async def test_a_code_from_another_deployment_without_federation_is_one_sentence(
    database_url: str, tmp_path: Path
) -> None:
    out = await run_script(
        make_config(database_url, tmp_path),
        [":as steve", "/constellation accept HL-AAAA-BBBB-CCCC@garden.example.org"],
        ManualClock(START),
    )
    assert "this one does not federate ([federation] enabled is off)" in out


@given(st.text(max_size=80))
def test_any_typed_code_is_parsed_or_refused(text: str) -> None:
    parsed = parse_code(text)
    assert parsed is None or (parsed[0].startswith("HL-") and parsed[1])


@given(
    st.text(alphabet="ABCDEFGHJKMNPQRSTUVWXYZ23456789", min_size=12, max_size=12),
    st.from_regex(
        r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?(\.[a-z]{2,6}){1,2}(:[0-9]{1,5})?", fullmatch=True
    ),
)
def test_a_well_formed_code_is_read_back_whatever_the_case(chars: str, host: str) -> None:
    code = f"HL-{chars[:4]}-{chars[4:8]}-{chars[8:]}"
    assert parse_code(f" {code.lower()}@{host.upper()} ") == (code, host)


@pytest.mark.slow
def test_a_code_meant_for_another_community_is_rejected_and_the_acceptor_told(
    pair: tuple[Deployment, Deployment],
) -> None:
    """The inviting deployment answers the signed Follow with Reject; the accepting
    steward's channel hears it in one sentence and no link is left waiting."""
    garden, works = pair
    with (
        HearthProcess(garden.config, garden.workdir) as guild,
        HearthProcess(works.config, works.workdir) as forge,
    ):
        guild.expect(BANNER)
        forge.expect(BANNER)
        guild.send(":as steve", f"/constellation invite for:mill@{works.host}")
        code = guild.expect(CODE)[1]
        forge.send(":as fran", ":channel hall", f"/constellation accept {code}")
        forge.expect(r"Asked The Guild \(guild@127\.0\.0\.1:\d+\) to confirm")
        forge.expect(r"The other deployment refused the link: ask its steward for a new code")
        forge.send("/constellation list")
        forge.expect(r"This community has no links yet")
        guild.send("/constellation list")
        guild.expect(r"invitation waiting to be accepted")
        assert guild.quit() == 0 and forge.quit() == 0
        for process in (guild, forge):
            assert "Traceback" not in process.stderr(), process.describe("a traceback")
