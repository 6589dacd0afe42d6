"""Export a community's insights as Markdown (for Obsidian), JSONL (lossless) and CSV.

Insights are streamed from the store and written one at a time, so memory stays flat
however many there are. Every file is written under a temporary name and renamed when
complete: after a crash no half-written file carries a final name.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import structlog

from knowledge.errors import InvalidInput, OperationFailed
from knowledge.failures import explain_os_error
from knowledge.insights import InsightStore
from knowledge.views import CommunityInfo, InsightView

log = structlog.get_logger(__name__)

FORMAT = "hearth.insight/1"
MARKDOWN_DIR = "markdown"
JSONL_NAME = "insights.jsonl"
CSV_NAME = "insights.csv"
CSV_HEADER = ("id", "title", "body", "tags", "author", "curator", "created", "permalink")
PROGRESS_EVERY = 100
SLUG_MAX_CHARS = 60
SLUG_MAX_BYTES = 120  # well under the 255-byte file name limit, even with the prefix
SLUG_WORDS = 8
_PART = ".part"
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class ExportSummary:
    """`files` lists the two data files and the Markdown folder, not each note: a
    100,000-entry tuple would defeat the flat-memory streaming."""

    directory: Path
    insights: int
    files: tuple[Path, ...]


async def export_community(
    store: InsightStore,
    community: CommunityInfo,
    out_dir: Path,
    progress: Callable[[int], None] | None = None,
) -> ExportSummary:
    """Write every insight of `community` into the new or empty folder `out_dir`.

    A folder that cannot be written (read-only, full disk) raises OperationFailed with one
    sentence; whatever this export had written by then is removed again."""
    prepared, existed = False, False
    try:
        markdown_dir, existed = _prepare(out_dir)
        prepared = True
        done = 0
        with _TableWriters(out_dir) as tables:
            async for insight in store.iterate(community.id):
                _write_note(markdown_dir, insight, community.slug)
                tables.write(insight)
                done += 1
                if progress is not None and done % PROGRESS_EVERY == 0:
                    progress(done)
            tables.commit()
    except Exception as exc:  # half an export is worse than none: tidy, then say why
        log.warning("export.failed", directory=str(out_dir), error=repr(exc))
        if prepared:  # the folder is ours to tidy only once it was new or empty
            _remove_partial(out_dir, existed)
        if not isinstance(exc, OSError) or isinstance(exc, ConnectionError):
            raise  # the store failed, not the folder: the caller explains it
        sentence = explain_os_error(exc, "the export")
        raise OperationFailed(sentence or f"The export could not be written: {exc}.") from exc
    if progress is not None:
        progress(done)
    return ExportSummary(out_dir, done, (*tables.paths, markdown_dir))


def _remove_partial(out_dir: Path, existed: bool) -> None:
    """Only this export's own files: the folder was new or empty when it started."""
    if not existed:
        shutil.rmtree(out_dir, ignore_errors=True)
    else:
        shutil.rmtree(out_dir / MARKDOWN_DIR, ignore_errors=True)
        for name in (JSONL_NAME, CSV_NAME):
            (out_dir / name).unlink(missing_ok=True)


def _prepare(out_dir: Path) -> tuple[Path, bool]:
    """Refuse any folder with something in it, so an export never overwrites a file.
    Returns the Markdown folder and whether `out_dir` was there before."""
    existed = out_dir.exists()
    if out_dir.exists() and not out_dir.is_dir():
        raise InvalidInput(f"Cannot export into {out_dir}: it is a file, not a folder.")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        raise InvalidInput(
            f"Cannot export into {out_dir}: the folder is not empty. "
            "Choose a new or empty folder so nothing gets overwritten."
        )
    markdown_dir = out_dir / MARKDOWN_DIR
    markdown_dir.mkdir(parents=True)
    return markdown_dir, existed


def jsonl_record(insight: InsightView) -> dict[str, Any]:
    """Everything `knowledge.importer` needs to re-create the insight."""
    return {
        "format": FORMAT,
        "id": insight.id,
        "title": insight.title,
        "body": insight.body,
        "tags": list(insight.tags),
        "author_name": insight.author_name,
        "curator_name": insight.curator_name,
        "permalink": insight.permalink,
        "source_platform": insight.source_platform,
        "source_space": insight.source_space,
        "source_channel": insight.source_channel,
        "source_message_id": insight.source_message_id,
        "created_at": insight.created_at.isoformat(),
        "updated_at": insight.updated_at.isoformat(),
    }


def csv_row(insight: InsightView) -> list[str]:
    """Text cells are guarded against formulas: the CSV is opened in spreadsheets, and
    the lossless copy is the JSONL."""
    return [
        str(insight.id),
        _cell(insight.title or ""),
        _cell(insight.body),
        " ".join(insight.tags),
        _cell(insight.author_name),
        _cell(insight.curator_name),
        insight.created_at.isoformat(),
        _cell(insight.permalink or ""),
    ]


def _cell(text: str) -> str:
    return f"'{text}" if text.startswith(_FORMULA_START) else text


def markdown_note(insight: InsightView, community_slug: str) -> str:
    """YAML front matter Obsidian reads as properties, the body, then the tags as #tags."""
    front = {
        "id": insight.id,
        "title": insight.title,
        "tags": list(insight.tags),
        "author": insight.author_name,
        "curator": insight.curator_name,
        "created": insight.created_at.isoformat(),
        "updated": insight.updated_at.isoformat(),
        "source": insight.permalink,
        "source_platform": insight.source_platform,
        "source_space": insight.source_space,
        "source_channel": insight.source_channel,
        "source_message_id": insight.source_message_id,
        "community": community_slug,
    }
    import yaml  # only an export writes YAML: not loaded at start-up

    header = yaml.safe_dump(front, allow_unicode=True, sort_keys=False)
    note = f"---\n{header}---\n\n{insight.body}\n"
    if insight.tags:
        note += "\n" + " ".join(f"#{tag}" for tag in insight.tags) + "\n"
    return note


def note_filename(insight: InsightView) -> str:
    """`NNNN-slug.md`: the id keeps names unique, the slug makes them readable."""
    words = insight.title or " ".join(insight.body.split()[:SLUG_WORDS])
    return f"{insight.id:04d}-{slugify(words)}.md"


def slugify(text: str) -> str:
    """Letters, digits and marks of any script, joined by '-': nothing a file system or an
    Obsidian link treats specially (separators, control or bidi characters, '#', '|')."""
    kept = "".join(
        ch if unicodedata.category(ch)[0] in "LNM" else "-"
        for ch in unicodedata.normalize("NFKC", text).casefold()
    )
    slug = "-".join(part for part in kept.split("-") if part)[:SLUG_MAX_CHARS]
    while len(slug.encode("utf-8")) > SLUG_MAX_BYTES:
        slug = slug[:-1]
    return slug.strip("-") or "insight"


def _write_note(markdown_dir: Path, insight: InsightView, community_slug: str) -> None:
    final = markdown_dir / note_filename(insight)
    part = final.with_name(f".{final.name}{_PART}")
    try:
        with part.open("w", encoding="utf-8", newline="") as note:
            note.write(markdown_note(insight, community_slug))
        os.replace(part, final)
    except BaseException:
        part.unlink(missing_ok=True)
        raise


class _TableWriters:
    """insights.jsonl and insights.csv, renamed into place only by `commit()`."""

    def __init__(self, out_dir: Path) -> None:
        self.paths = (out_dir / JSONL_NAME, out_dir / CSV_NAME)
        self._parts = tuple(p.with_name(f".{p.name}{_PART}") for p in self.paths)
        self._files: list[IO[str]] = []

    def __enter__(self) -> _TableWriters:
        try:
            for part in self._parts:
                self._files.append(part.open("w", encoding="utf-8", newline=""))
        except BaseException:
            self._discard()
            raise
        self._csv = csv.writer(self._files[1])
        self._csv.writerow(CSV_HEADER)
        return self

    def write(self, insight: InsightView) -> None:
        self._files[0].write(json.dumps(jsonl_record(insight), ensure_ascii=False) + "\n")
        self._csv.writerow(csv_row(insight))

    def commit(self) -> None:
        """Flush to disk before renaming, so a final name never points at lost data."""
        for handle in self._files:
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
        for part, final in zip(self._parts, self.paths, strict=True):
            os.replace(part, final)

    def __exit__(self, *exc_info: object) -> None:
        self._discard()

    def _discard(self) -> None:
        for handle in self._files:
            handle.close()
        for part in self._parts:
            part.unlink(missing_ok=True)
