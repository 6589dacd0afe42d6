"""Constellation links across deployments, tested with two real Hearth deployments: two
processes (`hearth run`), two SQLite databases, two ports on 127.0.0.1 (plain HTTP only
through `allow_loopback_for_tests`), each with its console. A steward of one invites, a
steward of the other accepts `code@host`; then a thread is relayed both ways, edited and
deleted, and one deployment is down for a while: what was said meanwhile arrives once, in
order, when it is back. Real wall clock (the signatures' Date window)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.harness.config_builder import FORGE, GUILD, Community, write_config
from tests.harness.processes import HearthProcess
from tests.test_federation import PASSPHRASE_ENV, free_port

pytestmark = pytest.mark.slow

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
        forge.expect(r"The Guild \(active\): \d+ delivered, 0 queued, 0 failing")
        assert guild.quit() == 0, guild.describe("unclean exit")
        assert forge.quit() == 0, forge.describe("unclean exit")
        for process in (guild, forge):
            assert "Traceback" not in process.stderr(), process.describe("a traceback")


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
