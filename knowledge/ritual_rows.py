"""The ritual store's records: rituals, rounds, responses and what a burst opens.

Frozen dataclasses built from rows, so the core never holds an ORM object, and the base
every ritual store class shares (one database). Shared by the definitions, the rounds,
the responses and the preferences, which is why they live apart from any of them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from knowledge.db import Database
from knowledge.models import Ritual, RitualRound
from knowledge.vocabulary import RitualKind, RoundStatus

LEASE = timedelta(minutes=2)
CHUNK = 500  # ids per IN list / rows per multi-row statement


ANONYMOUS = "anonymous"  # how a response given anonymously is credited, everywhere


@dataclass(frozen=True)
class NewRound:
    """A scheduled slot to open (see `RitualStore.open_rounds`)."""

    ritual_id: int
    community_id: int
    kind: RitualKind
    scheduled_for: datetime
    late: bool


@dataclass(frozen=True)
class OpenedRound:
    """A round this caller created and now owns, with what its prompt needs."""

    round: RoundView
    prompt_index: int  # its place in the ritual's prompt rotation
    own_prompts: tuple[str, ...]  # the community's own prompts for its kind


@dataclass(frozen=True)
class PostedPrompt:
    """What `mark_opened` records, for many rounds at once."""

    round_id: int
    prompt: str
    message_id: str
    opened_at: datetime
    remind_at: datetime | None
    closes_at: datetime
    closed: bool


@dataclass(frozen=True)
class RitualView:
    id: int
    community_id: int
    name: str
    kind: RitualKind
    platform: str
    space: str
    channel: str
    schedule_text: str
    cron: str
    timezone: str
    every_weeks: int
    anchor: str | None
    window_minutes: int
    reminder_percent: int | None
    prompt: str | None
    anonymous: bool
    paused: bool
    skip_next: bool
    created_at: datetime
    joint_id: int | None = None  # this community's part of a joint ritual
    local_time: str | None = None  # its own hour in the joint window ("HH:MM Zone")


@dataclass(frozen=True)
class RitualSchedule:
    """What a ritual's timer job depends on: enough for every instance to reconcile."""

    id: int
    cron: str
    timezone: str
    paused: bool


@dataclass(frozen=True)
class NewRitual:
    name: str
    kind: RitualKind
    platform: str
    space: str
    channel: str
    schedule_text: str
    cron: str
    timezone: str
    window_minutes: int
    every_weeks: int = 1
    anchor: str | None = None
    reminder_percent: int | None = 80
    prompt: str | None = None
    anonymous: bool = False
    created_by_member_id: int | None = None
    joint_id: int | None = None
    local_time: str | None = None


@dataclass(frozen=True)
class RoundView:
    id: int
    ritual_id: int
    scheduled_for: datetime
    status: RoundStatus
    late: bool
    manual: bool
    prompt: str
    message_id: str | None
    remind_at: datetime | None
    reminded_at: datetime | None
    closes_at: datetime | None
    closed_at: datetime | None
    synthesis_message_id: str | None
    synthesis_stale: bool
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    joint_round_id: int | None = None
    joint_due_at: datetime | None = None  # the constellation synthesis is due here then
    joint_message_id: str | None = None


@dataclass(frozen=True)
class ResponseView:
    id: int
    member_id: int | None
    author_name: str
    text: str
    anonymous: bool
    late: bool
    created_at: datetime
    # who answered, as a number telling members apart within the round (1, 2, …), never an
    # id: an anonymous round counts its members by it without naming them
    respondent: int = 0


def respondent_numbers(rows: Iterable[tuple[int, int, int | None]]) -> dict[int, int]:
    """Response id → its member's number within its round, for rows (response id, round
    id, member id) oldest first; a response without a member counts as its own."""
    numbers: dict[int, int] = {}
    seen: dict[int, dict[object, int]] = defaultdict(dict)
    for response_id, round_id, member_id in rows:
        members = seen[round_id]
        key: object = member_id if member_id is not None else ("response", response_id)
        numbers[response_id] = members.setdefault(key, len(members) + 1)
    return numbers


@dataclass(frozen=True)
class Completion:
    rounds: int
    answered_rounds: int
    responses: int
    participants: int
    missed: int

    @property
    def rate(self) -> float:
        return self.answered_rounds / self.rounds if self.rounds else 0.0


def ritual_view(row: Ritual) -> RitualView:
    return RitualView(
        row.id,
        row.community_id,
        row.name,
        row.kind,
        row.platform,
        row.space,
        row.channel,
        row.schedule_text,
        row.cron,
        row.timezone,
        row.every_weeks,
        row.anchor,
        row.window_minutes,
        row.reminder_percent,
        row.prompt,
        row.anonymous,
        row.paused,
        row.skip_next,
        row.created_at,
        row.joint_id,
        row.local_time,
    )


def round_from_row(row: Any) -> RoundView:
    """Any row with every ritual_rounds column (a RETURNING row, an ORM row) as a view."""
    return RoundView(
        row.id,
        row.ritual_id,
        row.scheduled_for,
        RoundStatus(row.status),
        row.late,
        row.manual,
        row.prompt,
        row.message_id,
        row.remind_at,
        row.reminded_at,
        row.closes_at,
        row.closed_at,
        row.synthesis_message_id,
        row.synthesis_stale,
        row.attempts,
        row.next_attempt_at,
        row.last_error,
        row.joint_round_id,
        row.joint_due_at,
        row.joint_message_id,
    )


def round_view(row: RitualRound) -> RoundView:
    return round_from_row(row)


class RitualTables:
    """A store over the ritual tables (every part of `RitualStore` shares one database)."""

    def __init__(self, database: Database) -> None:
        self._db = database
