"""The joint ritual records the core reads: a proposal, each community's answer, and what
one community brought to a joint round (for the constellation synthesis)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from knowledge.models import JointRitual
from knowledge.vocabulary import JointStatus, RitualKind


@dataclass(frozen=True)
class JointView:
    id: int
    owner_community_id: int
    name: str
    kind: RitualKind
    prompt: str | None
    schedule_text: str
    cron: str
    timezone: str
    every_weeks: int
    anchor: str | None
    window_minutes: int
    anonymous: bool
    created_at: datetime


@dataclass(frozen=True)
class ParticipantView:
    joint_id: int
    community_id: int
    slug: str
    name: str
    status: JointStatus
    ritual_id: int | None
    local_time: str | None


@dataclass(frozen=True)
class Voice:
    """One response as the constellation synthesis may use it: `quotable` only when its
    author opted in to being quoted beyond their community and it is not anonymous."""

    member_id: int | None
    author_name: str
    text: str
    message_id: str
    anonymous: bool
    quotable: bool


@dataclass(frozen=True)
class Contribution:
    """One community's own round of a joint round, with its live responses."""

    community_id: int
    community_name: str
    round_id: int
    platform: str
    space: str
    channel: str
    voices: tuple[Voice, ...]

    @property
    def people(self) -> int:
        return len({v.member_id for v in self.voices})


@dataclass(frozen=True)
class PulseRow:
    """A community's last 90 days, as `/constellation pulse` shows it."""

    community_id: int
    name: str
    captured: int
    shared: int
    adopted: int  # its insights adopted by other communities
    rounds: int
    answered_rounds: int
    participants: int

    @property
    def completion(self) -> float:
        return self.answered_rounds / self.rounds if self.rounds else 0.0


def joint_view(row: JointRitual) -> JointView:
    return JointView(
        row.id,
        row.owner_community_id,
        row.name,
        row.kind,
        row.prompt,
        row.schedule_text,
        row.cron,
        row.timezone,
        row.every_weeks,
        row.anchor,
        row.window_minutes,
        row.anonymous,
        row.created_at,
    )
