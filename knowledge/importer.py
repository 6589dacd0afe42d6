"""Import insights from the JSONL that `knowledge.export` writes.

Each line is re-captured for its original source message, and capture is idempotent on
that message: importing a file twice, or into the database it came from, adds nothing.
A bad line is reported by number and skipped; it never stops the lines after it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from knowledge.capture_writer import IMPORT_PLATFORM, CaptureRow
from knowledge.directory import Directory
from knowledge.errors import InvalidInput, UserError
from knowledge.export import FORMAT
from knowledge.failures import explain
from knowledge.insight_text import validate_body, validate_title
from knowledge.insights import InsightStore
from knowledge.tags import normalize_tags
from knowledge.views import CommunityInfo, SourceMessage

CURATOR_PLATFORM = IMPORT_PLATFORM
DEFAULT_CURATOR = "import"
PROGRESS_EVERY = 100
BATCH = 500  # lines captured per transaction (SQLite): one commit, not 500
MAX_LISTED_ERRORS = 1000
_BOM = b"\xef\xbb\xbf"
# Column sizes in knowledge.models: PostgreSQL refuses longer values, so check first.
_LIMITS = {
    "source_platform": 32,
    "source_space": 255,
    "source_channel": 255,
    "source_message_id": 255,
    "author_name": 200,
    "curator_name": 200,
    "permalink": 1024,
}


@dataclass(frozen=True)
class ImportSummary:
    created: int
    already_present: int
    errors: tuple[str, ...]


class BadLine(ValueError):
    """A line that cannot be imported; the message says what is wrong with it."""


@dataclass(frozen=True)
class ImportRecord:
    title: str | None
    body: str
    tags: tuple[str, ...]
    curator_name: str
    source: SourceMessage


async def import_jsonl(
    store: InsightStore,
    directory: Directory,
    community: CommunityInfo,
    path: Path,
    progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Capture every valid line of `path` into `community`; report the others."""
    importer = _Importer(store, directory, community)
    done = 0
    writing: asyncio.Task[None] | None = None  # the batch being captured meanwhile
    try:
        for number, line in _numbered_lines(path):
            importer.add_line(number, line)
            done += 1
            if len(importer.batch) >= BATCH:
                writing = await importer.flush_behind(writing)
            if progress is not None and done % PROGRESS_EVERY == 0:
                progress(done)
        writing = await importer.flush_behind(writing)
    finally:
        if writing is not None:
            await writing
    if progress is not None:
        progress(done)
    return importer.summary()


class _Importer:
    """Counts and errors of one import, and the curators it has already resolved."""

    def __init__(self, store: InsightStore, directory: Directory, community: CommunityInfo) -> None:
        self._store, self._directory, self._community = store, directory, community
        self._clock = store.clock
        self.batch: list[tuple[int, CaptureRow]] = []
        self.created = self.already_present = self.bad_lines = 0
        self.errors: list[tuple[int, str]] = []  # (line number, what is wrong)

    def add_line(self, number: int, line: bytes) -> None:
        """Parse one line into the next batch, or note why it cannot be imported."""
        if not line.strip():
            return
        try:
            record = parse_line(line)
        except (BadLine, UserError) as exc:
            self._error(number, exc.message if isinstance(exc, UserError) else str(exc))
            return
        row = CaptureRow(
            self._community.id,
            record.source,
            None,  # the curator is resolved only for a line not imported yet
            record.body,
            record.title,
            record.tags,
            self._clock.now(),
            look_first=True,  # a line already imported adds no author or curator
            curator_name=record.curator_name,
        )
        self.batch.append((number, row))

    async def flush_behind(self, previous: asyncio.Task[None] | None) -> asyncio.Task[None]:
        """Start capturing the batch, then wait for the one before it: the next batch is
        parsed while this one is written (two batches in memory at most)."""
        batch, self.batch = self.batch, []
        task = asyncio.get_running_loop().create_task(self._capture(batch))
        if previous is not None:
            await previous
        return task

    async def _capture(self, batch: list[tuple[int, CaptureRow]]) -> None:
        """Capture one batch, in one transaction on SQLite; count and report each line."""
        outcomes = await self._store.capture_many([row for _, row in batch])
        for (number, _), outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, UserError):
                self._error(number, outcome.message)
            elif isinstance(outcome, BaseException):
                self._error(number, explain(outcome) or f"the database refused it ({outcome})")
            elif outcome:
                self.created += 1
            else:
                self.already_present += 1

    def _error(self, number: int, message: str) -> None:
        """Keep the first errors only: a wrong file must not fill memory with messages."""
        self.bad_lines += 1
        if self.bad_lines <= MAX_LISTED_ERRORS:
            self.errors.append((number, message))

    def summary(self) -> ImportSummary:
        errors = [f"line {number}: {message}" for number, message in sorted(self.errors)]
        if self.bad_lines > MAX_LISTED_ERRORS:
            errors.append(f"... and {self.bad_lines - MAX_LISTED_ERRORS:,} more bad lines")
        return ImportSummary(self.created, self.already_present, tuple(errors))


def _numbered_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """Raw lines, decoded later one by one: a stray non-UTF-8 byte spoils only its line."""
    if not path.is_file():
        raise InvalidInput(f"Cannot import {path}: there is no such file.")
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            yield number, raw.removeprefix(_BOM) if number == 1 else raw


def parse_line(raw: bytes) -> ImportRecord:
    """One JSONL line as a record ready to capture, or BadLine saying what is wrong."""
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadLine("not UTF-8 text") from None
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise BadLine(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise BadLine("expected a JSON object")
    if data.get("format") != FORMAT:
        raise BadLine(f"format is {data.get('format')!r}, expected {FORMAT!r}")
    return _record(data)


def _record(data: dict[str, Any]) -> ImportRecord:
    body = validate_body(_text(data, "body"))
    author = _text(data, "author_name")
    source = SourceMessage(
        platform=_text(data, "source_platform"),
        space=_text(data, "source_space"),
        channel=_text(data, "source_channel"),
        message_id=_text(data, "source_message_id"),
        text=body,
        author_user_id=author,
        author_name=author,
        permalink=_optional_text(data, "permalink"),
        posted_at=_timestamp(data, "created_at"),
    )
    return ImportRecord(
        title=validate_title(_optional_text(data, "title")),
        body=body,
        tags=normalize_tags(_tags(data)),
        curator_name=_optional_text(data, "curator_name") or DEFAULT_CURATOR,
        source=source,
    )


def _text(data: dict[str, Any], key: str) -> str:
    value = _optional_text(data, key)
    if value is None or not value.strip():
        raise BadLine(f"{key} is missing or empty")
    return value


def _optional_text(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadLine(f"{key} must be a string")
    if "\x00" in value:
        raise BadLine(f"{key} contains a NUL character")
    limit = _LIMITS.get(key)
    if limit is not None and len(value) > limit:
        raise BadLine(f"{key} is longer than {limit} characters")
    return value


def _tags(data: dict[str, Any]) -> list[str]:
    tags = data.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise BadLine("tags must be a list of strings")
    return tags


def _timestamp(data: dict[str, Any], key: str) -> datetime | None:
    value = _optional_text(data, key)
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BadLine(f"{key} {value!r} is not an ISO 8601 date and time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
