"""Config errors name the file, the key and what was expected; secrets come from the env."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from bot.config import Config, ConfigError, load_config, parse_config

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"


def test_example_config_loads_and_documents_every_key() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    config = parse_config(text, "config.example.toml")
    assert config == Config()  # the example is exactly the embedded default
    raw = tomllib.loads(text)

    def keys(model: type, table: dict[str, object], path: str) -> None:
        for name, field in model.model_fields.items():  # type: ignore[attr-defined]
            documented = name in table or f"# {name} =" in text
            assert documented, f"{path}{name} is not documented in config.example.toml"
            annotation = field.annotation
            value = table.get(name)
            if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
                keys(annotation, value, f"{path}{name}.")  # type: ignore[arg-type]

    keys(Config, raw, "")


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("[hearth]\ndatabse_url = 'x'", "cfg.toml: hearth.databse_url: unknown key"),
        (
            "[hearth]\nauto_migrate = 'sometimes'",
            "cfg.toml: hearth.auto_migrate: Input should be a valid boolean",
        ),
        (
            "[hearth]\ndatabase_url = 'mysql://x'",
            "cfg.toml: hearth.database_url: expected a sqlite:/// or postgresql:// URL",
        ),
        (
            "[[communities]]\nslug = 'Bad Slug'\nname = 'x'",
            "cfg.toml: communities.0.slug: String should match pattern",
        ),
        (
            "[[communities]]\nslug = 'a'\nname = 'x'\ntimezone = 'Mars/Base'",
            "communities.0.timezone: expected an IANA time zone",
        ),
        (
            "[[communities]]\nslug = 'a'\nname = 'x'\nstewards = ['alice']",
            'expected "platform:user-id"',
        ),
        ("[hearth\n", "cfg.toml: not valid TOML"),
        (
            "[hearth]\ndatabase_url = '${HEARTH_NOT_SET_ANYWHERE}'",
            "cfg.toml: hearth.database_url: environment variable HEARTH_NOT_SET_ANYWHERE is not set",
        ),
        (
            "[hearth]\ndatabase_url = 'postgresql://u:hunter2@db/h'",
            "contains a password; secrets come from the environment",
        ),
    ],
)
def test_bad_config_is_refused_with_file_key_and_expectation(toml: str, expected: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(toml, "cfg.toml")
    assert expected in str(raised.value)
    assert "hunter2" not in str(raised.value)


def test_secrets_are_read_from_environment_references(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEARTH_DATABASE_URL", "postgresql://u:pw@127.0.0.1/h")
    config = parse_config("[hearth]\ndatabase_url = '${HEARTH_DATABASE_URL}'", "cfg.toml")
    assert config.hearth.database_url == "postgresql://u:pw@127.0.0.1/h"


def test_missing_config_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no such file .*hearth init"):
        load_config(tmp_path / "absent.toml")
