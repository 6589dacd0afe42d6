"""The `hearth` command line, run as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def hearth(
    *args: str, cwd: Path, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "HEARTH_CONFIG": "", **(env or {})},
    )


def test_init_writes_a_config_that_check_config_accepts(tmp_path: Path) -> None:
    made = hearth("init", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "hearth.toml").exists()
    again = hearth("init", cwd=tmp_path)
    assert again.returncode != 0 and "already exists" in again.stderr
    assert "then: hearth check-config hearth.toml" in made.stdout
    for args in (["hearth.toml"], ["--config", "hearth.toml"]):  # like `hearth init FILE`
        checked = hearth("check-config", *args, cwd=tmp_path)
        assert checked.returncode == 0, checked.stderr
        assert "Config OK: 1 community(ies) (default); adapters: console" in checked.stdout
    (tmp_path / "other.toml").write_text("[hearth]\n")
    both = hearth("check-config", "hearth.toml", "--config", "other.toml", cwd=tmp_path)
    assert both.returncode == 2 and "two config files given" in both.stderr


def test_bad_config_refuses_to_start_naming_file_and_key(tmp_path: Path) -> None:
    (tmp_path / "hearth.toml").write_text("[hearth]\nlog_levl = 'INFO'\n")
    result = hearth("run", cwd=tmp_path)
    assert result.returncode == 2
    assert "hearth.toml: hearth.log_levl: unknown key" in result.stderr
    assert "Hearth did not start" in result.stderr
    assert not (tmp_path / "hearth.db").exists()


def test_corrupt_database_is_refused_and_left_untouched(tmp_path: Path) -> None:
    corrupt = b"this is not a database\x00" * 100
    (tmp_path / "hearth.db").write_bytes(corrupt)
    result = hearth("run", cwd=tmp_path, stdin="/insight hello\n")
    assert result.returncode == 3
    assert "hearth.db is not a SQLite database" in result.stderr
    assert (tmp_path / "hearth.db").read_bytes() == corrupt
    assert "Traceback" not in result.stderr


def test_missing_database_folder_is_explained(tmp_path: Path) -> None:
    (tmp_path / "hearth.toml").write_text("[hearth]\ndatabase_url = 'sqlite:///nowhere/h.db'\n")
    result = hearth("db", "upgrade", cwd=tmp_path)
    assert result.returncode == 3
    assert "folder nowhere does not exist" in result.stderr


def test_scripted_run_then_search_export_and_import(tmp_path: Path) -> None:
    assert hearth("db", "upgrade", cwd=tmp_path).returncode == 0
    script = "/insight Blameless postmortems build trust #incidents\n/insight Write runbooks #ops\n"
    run = hearth("run", cwd=tmp_path, stdin=script)
    assert run.returncode == 0, run.stderr
    assert "Captured insight #2" in run.stdout

    found = hearth("search", "postmortems", cwd=tmp_path)
    assert found.returncode == 0, found.stderr
    assert "1 insight(s) match “postmortems”" in found.stdout
    assert "postmortems" in found.stdout.lower() and "**" not in found.stdout  # plain

    exported = hearth("export", "--out", "out", cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    assert "Exported 2 insight(s)" in exported.stdout
    records = [
        json.loads(x) for x in (tmp_path / "out" / "insights.jsonl").read_text().splitlines()
    ]
    assert {r["body"] for r in records} == {"Blameless postmortems build trust", "Write runbooks"}

    other = tmp_path / "other"
    other.mkdir()
    imported = hearth("import", str(tmp_path / "out" / "insights.jsonl"), cwd=other)
    assert imported.returncode == 0, imported.stderr
    assert "Imported 2 new insight(s); 0 were already there" in imported.stdout
    twice = hearth("import", str(tmp_path / "out" / "insights.jsonl"), cwd=other)
    assert "Imported 0 new insight(s); 2 were already there" in twice.stdout
    assert "1 insight(s) match" in hearth("search", "runbooks", cwd=other).stdout


def test_import_of_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    result = hearth("import", "nope.jsonl", cwd=tmp_path)
    assert result.returncode == 2
    assert "nope.jsonl" in result.stderr and "Traceback" not in result.stderr


def test_slack_manifest_is_valid_yaml_with_every_command(tmp_path: Path) -> None:
    import yaml

    from bot.commands.table import build_command_table

    result = hearth("slack", "manifest", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    manifest = yaml.safe_load(result.stdout)
    commands = {c["command"] for c in manifest["features"]["slash_commands"]}
    assert commands == {f"/{name}" for name in build_command_table().names()}


def test_slack_token_key_makes_a_key_oauth_accepts_and_the_manifest_shows_the_redirect(
    tmp_path: Path,
) -> None:
    import yaml
    from cryptography.fernet import Fernet

    made = hearth("slack", "token-key", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    Fernet(key.encode())  # a usable key, not just text
    (tmp_path / "hearth.toml").write_text(
        '[adapters.slack]\nclient_id = "1.2"\nclient_secret = "${S}"\nsigning_secret = "${S}"\n'
        'token_key = "${K}"\npublic_url = "https://hearth.example.net"\n'
    )
    printed = hearth("slack", "manifest", cwd=tmp_path, env={"S": "x", "K": key})
    assert printed.returncode == 0, printed.stderr
    redirect = yaml.safe_load(printed.stdout)["oauth_config"]["redirect_urls"]
    assert redirect == ["https://hearth.example.net/slack/oauth_redirect"]


def test_discord_invite_asks_for_exactly_the_needed_permissions(tmp_path: Path) -> None:
    missing = hearth("discord", "invite", cwd=tmp_path)
    assert missing.returncode == 2 and "application_id" in missing.stderr
    (tmp_path / "hearth.toml").write_text("[adapters.discord]\napplication_id = 42\n")
    result = hearth("discord", "invite", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "client_id=42" in result.stdout and "scope=bot+applications.commands" in result.stdout
    assert "permissions=8&" not in result.stdout  # never Administrator


def test_search_from_the_shell_needs_no_adapter_secrets_and_covers_every_community(
    tmp_path: Path,
) -> None:
    (tmp_path / "hearth.toml").write_text(
        """
[[communities]]
slug = "guild"
name = "The Guild"
stewards = ["console:you"]
[[communities.channels]]
platform = "console"
space = "local"
channel = "general"

[[communities]]
slug = "forge"
name = "The Forge"
[[communities.channels]]
platform = "slack"
space = "T1"
channel = "C1"

[adapters.slack]
enabled = false
bot_token = "${HEARTH_TEST_UNSET_SLACK_TOKEN}"
signing_secret = "${HEARTH_TEST_UNSET_SLACK_SECRET}"
""",
        encoding="utf-8",
    )
    env = {"HEARTH_CONFIG": str(tmp_path / "hearth.toml")}
    refused = hearth("check-config", cwd=tmp_path, env=env)
    assert refused.returncode != 0 and "HEARTH_TEST_UNSET_SLACK_TOKEN" in refused.stderr
    found = hearth("search", "anything", cwd=tmp_path, env=env)
    assert found.returncode == 0, found.stderr
    assert "The Guild (guild)" in found.stdout and "The Forge (forge)" in found.stdout
    only = hearth("search", "anything", "--community", "forge", cwd=tmp_path, env=env)
    assert only.returncode == 0 and "The Guild" not in only.stdout


def test_check_config_says_when_matrix_encryption_is_on_but_the_e2e_extra_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli import app
    from tests.harness.config_builder import Channel, Community, write_config

    guild = Community("guild", "The Guild", (Channel("matrix", "example.org", "!room"),))
    matrix = """
[adapters.matrix]
enabled = true
homeserver = "http://127.0.0.1:1"
user_id = "@hearth:example.org"
access_token = "${HEARTH_MATRIX_ACCESS_TOKEN}"
encryption = true
"""
    config = write_config(
        tmp_path / "hearth.toml", f"sqlite:///{tmp_path}/h.db", guild, extra=matrix
    )
    monkeypatch.setenv("HEARTH_MATRIX_ACCESS_TOKEN", "not-a-real-token")
    monkeypatch.setitem(sys.modules, "vodozemac", None)  # as if the extra were not installed
    with pytest.raises(SystemExit) as ended:
        app(["check-config", str(config)])
    assert ended.value.code == 0
    printed = capsys.readouterr().out
    assert (
        "Matrix has encryption = true, but matrix-nio's e2e extra (vodozemac) is not "
        "installed: encrypted rooms and DMs will only get a notice that I cannot read them; "
        "install it with pip install 'hearth[e2e]' (or set encryption = false)."
    ) in " ".join(printed.split())
    assert "Config OK" in printed
