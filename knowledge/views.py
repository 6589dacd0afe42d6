"""Immutable values the store hands out: callers never hold live ORM objects."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from knowledge.vocabulary import Role, RoleSource, Visibility

FORGOTTEN_NAME = "a former member"


@dataclass(frozen=True)
class CommunityInfo:
    id: int
    slug: str
    name: str
    timezone: str


@dataclass(frozen=True)
class MemberInfo:
    id: int
    community_id: int
    display_name: str
    role: Role  # what the member may do: the higher of Hearth's grant and the platform's
    role_source: RoleSource | None = None  # where that role came from; None: a plain member


@dataclass(frozen=True)
class SourceMessage:
    """A platform message as the adapter saw it; the unit an insight is unique on."""

    platform: str
    space: str
    channel: str
    message_id: str
    text: str
    author_user_id: str
    author_name: str
    permalink: str | None = None
    thread_id: str | None = None
    posted_at: datetime | None = None


@dataclass(frozen=True)
class InsightView:
    id: int
    community_id: int
    title: str | None
    body: str
    tags: tuple[str, ...]
    author_name: str
    author_member_id: int | None
    curator_name: str
    curator_member_id: int | None
    permalink: str | None
    source_platform: str
    source_space: str
    source_channel: str
    source_message_id: str
    source_deleted: bool
    created_at: datetime
    updated_at: datetime
    revisions: int
    visibility: Visibility = Visibility.COMMUNITY
    origin_insight_id: int | None = None  # an adopted copy of a sibling's insight
    origin_credit: str | None = None  # "Ann (The Forge)": who to credit for a copy


@dataclass(frozen=True)
class CaptureResult:
    insight: InsightView
    created: bool


@dataclass(frozen=True)
class TagCount:
    name: str
    count: int
