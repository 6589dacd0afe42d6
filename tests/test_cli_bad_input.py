"""The command line under bad input and outside failures: one sentence, never a traceback,
and square brackets in messages printed as written (issue #22)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness.read_only import read_only
from tests.test_cli import hearth

pytestmark = pytest.mark.slow


def _init(tmp_path: Path, **replace: str) -> Path:
    made = hearth("init", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    config = tmp_path / "hearth.toml"
    text = config.read_text()
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new)
    config.write_text(text)
    return config


def _one_sentence(result_stderr: str) -> None:
    assert "Traceback" not in result_stderr
    assert "─" not in result_stderr  # no rich traceback frame either


def test_missing_embeddings_extra_keeps_its_brackets(tmp_path: Path) -> None:
    _init(tmp_path, **{'local_embedding_model = ""': 'local_embedding_model = "potion"'})
    shadow = tmp_path / "shadow" / "model2vec"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('model2vec is not installed')\n")
    env = {"PYTHONPATH": f"{tmp_path / 'shadow'}:{Path.cwd()}"}
    for command in ("check-config", "run"):
        result = hearth(command, cwd=tmp_path, env=env)
        assert result.returncode != 0
        assert "pip install 'hearth[embeddings]'" in result.stderr.replace("\n", "")
        assert "Config OK" not in result.stdout
        _one_sentence(result.stderr)


def test_check_config_loads_the_local_model_and_reports_one_that_cannot_load(
    tmp_path: Path,
) -> None:
    empty_model = tmp_path / "my-model"
    empty_model.mkdir()
    _init(tmp_path, **{'local_embedding_model = ""': f'local_embedding_model = "{empty_model}"'})
    result = hearth("check-config", cwd=tmp_path, env={"HF_HUB_OFFLINE": "1"})
    assert result.returncode != 0
    assert "Config OK" not in result.stdout
    assert "cannot load the local embedding model" in result.stderr.replace("\n", " ")
    _one_sentence(result.stderr)


def test_a_bad_slug_prints_its_pattern_whole(tmp_path: Path) -> None:
    _init(tmp_path, **{'slug = "default"': 'slug = "Not A Slug"'})
    result = hearth("check-config", cwd=tmp_path)
    assert result.returncode == 2
    assert "^[a-z0-9][a-z0-9-]{0,63}$" in result.stderr.replace("\n", "")


def test_export_into_a_read_only_folder_is_one_sentence(tmp_path: Path) -> None:
    _init(tmp_path)
    seeded = hearth("run", cwd=tmp_path, stdin="/insight Small steps #ok\n")
    assert seeded.returncode == 0, seeded.stderr
    locked = tmp_path / "locked"
    locked.mkdir()
    with read_only(locked):
        result = hearth("export", "--out", str(locked / "out"), cwd=tmp_path)
    assert result.returncode != 0
    text = result.stderr.replace("\n", " ")
    assert "The export could not be written" in text
    assert "read-only" in text or "permission denied" in text
    _one_sentence(result.stderr)
    assert list(locked.iterdir()) == []


def test_a_read_only_database_says_read_only(tmp_path: Path) -> None:
    _init(tmp_path, **{"sqlite:///hearth.db": "sqlite:///data/hearth.db"})
    (tmp_path / "data").mkdir()
    seeded = hearth("run", cwd=tmp_path, stdin="/insight Small steps #ok\n")
    assert seeded.returncode == 0, seeded.stderr
    with read_only(tmp_path / "data"):
        result = hearth("search", "small", cwd=tmp_path)
    assert result.returncode != 0
    assert "read-only" in result.stderr
    assert "unable to open database file" not in result.stderr
    _one_sentence(result.stderr)


def test_search_with_absurd_paging_is_one_sentence(tmp_path: Path) -> None:
    _init(tmp_path)
    seeded = hearth("run", cwd=tmp_path, stdin="/insight Small steps #ok\n")
    assert seeded.returncode == 0, seeded.stderr
    result = hearth("search", "small page:99999999999999999999999", cwd=tmp_path)
    assert "There are only 1 page(s) of results" in result.stdout
    huge = hearth("search", "small page:" + "9" * 200, cwd=tmp_path)
    assert huge.returncode != 0 and "is too large" in huge.stderr
    _one_sentence(result.stderr + huge.stderr)
