"""Export to Markdown/JSONL/CSV and re-import from JSONL, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import json
import unicodedata
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from knowledge.db import Database
from knowledge.directory import Directory
from knowledge.errors import InvalidInput
from knowledge.export import ExportSummary, export_community
from knowledge.importer import import_jsonl
from knowledge.insights import InsightStore
from knowledge.models import Member
from knowledge.views import CommunityInfo, InsightView
from tests.harness.store_rows import console_message

RTL_BODY = "שלום עולם — 🔥 naïve café; '; DROP TABLE insights; --"
TRICKY_BODY = "Line one\n---\nkey: value: with colons\n\n#not-a-tag & 'quotes' \"double\""
# (message id, author, title, body, tags)
SAMPLES = [
    ("1", "alice", "Reviews / pairing: ../../etc", "Pair on reviews", ["practice", "code-review"]),
    ("2", "bob", "\u202eעברית 🔥 emoji\u0007", RTL_BODY, ["עברית", "café"]),
    ("3", "alice", None, TRICKY_BODY, []),
    ("4", "carol", "x" * 300, '=HYPERLINK("http://evil")', ["a/b.c"]),
]


@pytest.fixture
async def insights(database: Database, community: CommunityInfo) -> list[InsightView]:
    store = InsightStore(database)
    curator = await Directory(database).resolve_member(community.id, "console", "dana", "Dana")
    return [
        (
            await store.capture(
                community.id,
                console_message(mid, body, author),
                curator=curator,
                title=title,
                tags=tags,
            )
        ).insight
        for mid, author, title, body, tags in SAMPLES
    ]


@pytest.fixture
async def exported(
    database: Database, community: CommunityInfo, insights: list[InsightView], tmp_path: Path
) -> ExportSummary:
    return await export_community(InsightStore(database), community, tmp_path / "export")


async def member_count(database: Database) -> int:
    async with database.sessions() as session:
        return int(await session.scalar(select(func.count(Member.id))) or 0)


def split_note(text: str) -> tuple[dict[str, object], str]:
    """Front matter and the rest, the way Obsidian splits a note."""
    assert text.startswith("---\n")
    header, rest = text[4:].split("\n---\n", 1)
    return yaml.safe_load(header), rest


def note_for(summary: ExportSummary, insight_id: int) -> Path:
    (path,) = (summary.directory / "markdown").glob(f"{insight_id:04d}-*.md")
    return path


async def test_export_writes_one_note_per_insight_plus_jsonl_and_csv(
    exported: ExportSummary, insights: list[InsightView]
) -> None:
    out = exported.directory
    assert exported.insights == len(insights)
    assert exported.files == (out / "insights.jsonl", out / "insights.csv", out / "markdown")
    assert len(list((out / "markdown").iterdir())) == len(insights)
    assert sorted(p.name for p in out.iterdir()) == ["insights.csv", "insights.jsonl", "markdown"]


async def test_markdown_front_matter_parses_and_body_is_intact(
    exported: ExportSummary, insights: list[InsightView]
) -> None:
    for insight in insights:
        front, rest = split_note(note_for(exported, insight.id).read_text(encoding="utf-8"))
        assert front["id"] == insight.id
        assert front["title"] == insight.title
        assert front["tags"] == list(insight.tags)
        assert (front["author"], front["curator"]) == (insight.author_name, "Dana")
        assert front["created"] == insight.created_at.isoformat()
        assert front["source"] == insight.permalink
        assert (front["source_platform"], front["source_channel"]) == ("console", "general")
        assert front["source_message_id"] == insight.source_message_id
        assert front["community"] == "guild"
        tag_line = " ".join(f"#{tag}" for tag in insight.tags)
        assert rest == f"\n{insight.body}\n" + (f"\n{tag_line}\n" if tag_line else "")


async def test_note_file_names_are_safe_on_any_system(
    exported: ExportSummary, insights: list[InsightView]
) -> None:
    names = [p.name for p in (exported.directory / "markdown").iterdir()]
    for name in names:
        assert not set(name) & set('/\\:*?"<>|#^[]'), name
        assert all(unicodedata.category(ch)[0] != "C" for ch in name), name
        assert len(name.encode("utf-8")) <= 140 and not name.startswith(".")
    assert note_for(exported, insights[0].id).name == f"{insights[0].id:04d}-reviews-pairing-etc.md"
    assert note_for(exported, insights[1].id).name == f"{insights[1].id:04d}-עברית-emoji.md"
    assert note_for(exported, insights[2].id).name.endswith(
        "-line-one-key-value-with-colons-not-a-tag.md"
    )


async def test_csv_reads_back_with_formulas_defused(
    exported: ExportSummary, insights: list[InsightView]
) -> None:
    with (exported.directory / "insights.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == [
        "id",
        "title",
        "body",
        "tags",
        "author",
        "curator",
        "created",
        "permalink",
    ]
    assert [row["body"] for row in rows[:3]] == [i.body for i in insights[:3]]
    assert rows[1]["tags"] == "café עברית"
    assert rows[3]["body"] == '\'=HYPERLINK("http://evil")'
    assert rows[0]["author"] == "Alice" and rows[0]["permalink"] == insights[0].permalink


async def test_jsonl_lines_match_the_store(
    exported: ExportSummary, insights: list[InsightView]
) -> None:
    lines = (exported.directory / "insights.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(insights)
    for line, insight in zip(lines, insights, strict=True):
        record = json.loads(line)
        assert record["format"] == "hearth.insight/1"
        assert record == {
            "format": "hearth.insight/1",
            "id": insight.id,
            "title": insight.title,
            "body": insight.body,
            "tags": list(insight.tags),
            "author_name": insight.author_name,
            "curator_name": "Dana",
            "permalink": insight.permalink,
            "source_platform": "console",
            "source_space": "local",
            "source_channel": "general",
            "source_message_id": insight.source_message_id,
            "created_at": insight.created_at.isoformat(),
            "updated_at": insight.updated_at.isoformat(),
        }


async def test_export_then_import_into_a_fresh_community_reproduces_the_insights(
    database: Database, exported: ExportSummary, insights: list[InsightView]
) -> None:
    store, directory = InsightStore(database), Directory(database)
    fresh = await directory.ensure_community("copy", "The Copy", "UTC")
    seen: list[int] = []
    summary = await import_jsonl(
        store, directory, fresh, exported.directory / "insights.jsonl", progress=seen.append
    )
    assert (summary.created, summary.already_present, summary.errors) == (len(insights), 0, ())
    assert seen[-1] == len(insights)
    copies = [view async for view in store.iterate(fresh.id)]
    assert [(c.title, c.body, c.tags, c.author_name) for c in copies] == [
        (i.title, i.body, i.tags, i.author_name) for i in insights
    ]
    assert {c.curator_name for c in copies} == {"Dana"}
    assert [c.permalink for c in copies] == [i.permalink for i in insights]


async def test_importing_twice_or_into_the_origin_creates_nothing(
    database: Database,
    community: CommunityInfo,
    exported: ExportSummary,
    insights: list[InsightView],
) -> None:
    store, directory = InsightStore(database), Directory(database)
    path = exported.directory / "insights.jsonl"
    members_before = await member_count(database)
    again = await import_jsonl(store, directory, community, path)
    assert (again.created, again.already_present, again.errors) == (0, len(insights), ())
    assert await member_count(database) == members_before
    fresh = await directory.ensure_community("copy", "The Copy", "UTC")
    first = await import_jsonl(store, directory, fresh, path)
    second = await import_jsonl(store, directory, fresh, path)
    assert (first.created, second.created) == (len(insights), 0)
    assert second.already_present == len(insights)
    assert await store.count(fresh.id) == await store.count(community.id) == len(insights)


async def test_bad_lines_are_reported_by_number_and_the_rest_imported(
    database: Database, exported: ExportSummary, tmp_path: Path
) -> None:
    good = (exported.directory / "insights.jsonl").read_bytes().splitlines()
    broken = json.loads(good[1])
    broken["tags"] = ["not a tag!"]
    bodiless = json.loads(good[2])
    del bodiless["body"]
    lines = [
        good[0],
        b"{not json",
        json.dumps(broken).encode(),
        b"",
        json.dumps(bodiless).encode(),
        b"\xff\xfe garbage",
        b'["a list"]',
        good[3],
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    store, directory = InsightStore(database), Directory(database)
    fresh = await directory.ensure_community("copy", "The Copy", "UTC")
    summary = await import_jsonl(store, directory, fresh, path)
    assert (summary.created, summary.already_present) == (2, 0)
    assert [e.split(":")[0] for e in summary.errors] == [
        "line 2",
        "line 3",
        "line 5",
        "line 6",
        "line 7",
    ]
    assert "not valid JSON" in summary.errors[0]
    assert "#not a tag!" in summary.errors[1]
    assert "body is missing" in summary.errors[2]
    assert "UTF-8" in summary.errors[3]
    assert [v.source_message_id async for v in store.iterate(fresh.id)] == ["1", "4"]


async def test_a_missing_file_is_refused_clearly(
    database: Database, community: CommunityInfo, tmp_path: Path
) -> None:
    with pytest.raises(InvalidInput, match="no such file"):
        await import_jsonl(
            InsightStore(database), Directory(database), community, tmp_path / "nope.jsonl"
        )


async def test_export_into_a_non_empty_folder_is_refused_and_leaves_it_alone(
    database: Database, community: CommunityInfo, insights: list[InsightView], tmp_path: Path
) -> None:
    target = tmp_path / "busy"
    target.mkdir()
    (target / "insights.jsonl").write_text("precious", encoding="utf-8")
    with pytest.raises(InvalidInput, match="not empty"):
        await export_community(InsightStore(database), community, target)
    assert [p.name for p in target.iterdir()] == ["insights.jsonl"]
    assert (target / "insights.jsonl").read_text(encoding="utf-8") == "precious"


async def test_an_empty_community_exports_empty_files(
    database: Database, community: CommunityInfo, tmp_path: Path
) -> None:
    seen: list[int] = []
    summary = await export_community(
        InsightStore(database), community, tmp_path / "empty", progress=seen.append
    )
    assert (summary.insights, seen) == (0, [0])
    assert (tmp_path / "empty" / "insights.jsonl").read_text(encoding="utf-8") == ""
    assert list((tmp_path / "empty" / "markdown").iterdir()) == []


class CrashingStore(InsightStore):
    """Fails after two insights, as a lost database connection would."""

    async def iterate(self, community_id: int, batch: int = 500) -> AsyncIterator[InsightView]:
        count = 0
        async for view in super().iterate(community_id, batch):
            if count == 2:
                raise ConnectionError("database went away")
            count += 1
            yield view


async def test_a_failed_export_leaves_no_half_written_file(
    database: Database, community: CommunityInfo, insights: list[InsightView], tmp_path: Path
) -> None:
    target = tmp_path / "crash"
    with pytest.raises(ConnectionError):
        await export_community(CrashingStore(database), community, target)
    assert not target.exists()  # nothing half-written is left to be mistaken for an export
