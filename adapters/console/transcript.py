"""The console's own "server": its messages, kept in a JSON Lines file across restarts.

Real platforms keep their history; the console needs the same so that message ids
never repeat after a restart and `:react 12 💡` still finds message 12.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import IO, Any

from bot.adapter import Clock, UserError

try:
    import fcntl
except ImportError:  # Windows: no advisory locks, one console per transcript by convention
    fcntl = None  # type: ignore[assignment]


@dataclass(frozen=True)
class ConsoleMessage:
    id: int
    space: str
    channel: str
    user: str
    text: str
    at: str
    reply_to: int | None = None
    deleted: bool = False
    kind: str = "message"  # or "reaction": reactions take ids too, so each is a fresh event
    key: str | None = None  # the idempotency key Hearth posted it with
    shown_as: str | None = None  # a relayed copy: the original author and community


class TranscriptInUse(UserError):
    """Another process has this transcript open."""


def _lock(file: IO[str]) -> None:
    """An exclusive lock the OS drops when the process ends, however it ends."""
    if fcntl is not None:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


class Transcript:
    def __init__(self, path: Path, clock: Clock) -> None:
        self._path = path
        self._clock = clock
        self._messages: dict[int, ConsoleMessage] = {}
        self._last_id = 0
        self._keys: dict[str, int] = {}
        self._file: IO[str] | None = None
        self._records: list[ConsoleMessage] = []  # every record in file order: the positions

    def open(self) -> None:
        """Load the history and hold the file for this process alone: two consoles on one
        transcript would hand out the same message numbers."""
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self._path.open("a", encoding="utf-8")
        try:
            _lock(self._file)
        except BlockingIOError:
            self.close()
            raise TranscriptInUse(
                f"{self._path} is in use by another running console (another `hearth run` "
                "in this folder?); stop that one, or give this one its own "
                "[adapters.console] transcript"
            ) from None
        with self._path.open(encoding="utf-8", errors="replace") as f:  # torn: skipped
            for line in f:
                self._load(line)
        if self._path.stat().st_size and not self._path.read_bytes().endswith(b"\n"):
            self._file.write("\n")  # never glue a new record onto a torn one

    def _load(self, line: str) -> None:
        try:
            record: dict[str, Any] = json.loads(line)
            message = ConsoleMessage(**record)
        except (ValueError, TypeError):
            return  # a line torn by a crash mid-write: skip it, keep the rest
        self._messages[message.id] = message
        self._records.append(message)
        self._last_id = max(self._last_id, message.id)
        if message.key is not None:
            self._keys[message.key] = message.id

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _write(self, message: ConsoleMessage) -> ConsoleMessage:
        assert self._file is not None, "transcript not open"
        self._file.write(json.dumps(asdict(message), ensure_ascii=False) + "\n")
        self._file.flush()
        self._messages[message.id] = message
        self._records.append(message)
        return message

    def add(
        self,
        space: str,
        channel: str,
        user: str,
        text: str,
        *,
        reply_to: int | None = None,
        kind: str = "message",
        key: str | None = None,
        shown_as: str | None = None,
        number: int | None = None,
    ) -> ConsoleMessage:
        """Record a message as the next number, or as `number` (claimed elsewhere, never
        below the next one)."""
        self._last_id = max(self._last_id + 1, number or 0)
        now = self._clock.now().isoformat(timespec="seconds")
        message = ConsoleMessage(
            self._last_id,
            space,
            channel,
            user,
            text,
            now,
            reply_to,
            kind=kind,
            key=key,
            shown_as=shown_as,
        )
        if key is not None:
            self._keys[key] = message.id
        return self._write(message)

    @property
    def next_id(self) -> int:
        return self._last_id + 1

    def by_key(self, key: str) -> ConsoleMessage | None:
        """The message Hearth already posted with this idempotency key, if any."""
        found = self._keys.get(key)
        return None if found is None else self._messages.get(found)

    def update(self, message_id: int, *, text: str | None = None, deleted: bool = False) -> None:
        current = self._messages[message_id]
        self._write(replace(current, text=current.text if text is None else text, deleted=deleted))

    def get(self, message_id: int) -> ConsoleMessage | None:
        message = self._messages.get(message_id)
        return message if message is not None and message.kind == "message" else None

    def thread(self, root_id: int) -> list[ConsoleMessage]:
        return [
            m
            for m in self._messages.values()
            if m.kind == "message" and not m.deleted and (m.id == root_id or m.reply_to == root_id)
        ]

    @property
    def position(self) -> int:
        """How many records the transcript holds: a new post, edit or deletion adds one."""
        return len(self._records)

    def touched_since(self, position: int) -> set[tuple[str, str, int]]:
        """(space, channel, id) of every message written since `position`, of what each
        replied to and of that message's own parent: the threads they are in."""
        touched: set[tuple[str, str, int]] = set()
        for record in self._records[position:]:
            chain = [record.id, record.reply_to]
            parent = self._messages.get(record.reply_to) if record.reply_to else None
            chain.append(parent.reply_to if parent is not None else None)
            touched.update((record.space, record.channel, i) for i in chain if i is not None)
        return touched
