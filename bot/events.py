"""The neutral event model: what adapters turn platform events into.

Frozen dataclasses, one shape per kind of event; each adapter builds them from its own
platform's payloads, so nothing past the adapter knows which platform spoke.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from knowledge.vocabulary import Role as Role  # adapters name a role through the core


@dataclass(frozen=True)
class ChannelRef:
    platform: str
    space: str
    channel: str


@dataclass(frozen=True)
class MessageRef:
    channel: ChannelRef
    message_id: str
    thread_id: str | None = None


@dataclass(frozen=True)
class UserRef:
    """Who acted. `platform_role` is the role the platform itself grants them now (admin,
    a configured role or group, a power level), which the core applies (raising or taking
    back only what the platform gave); None means the adapter cannot tell, and then
    nothing changes."""

    platform: str
    user_id: str
    display_name: str
    platform_role: Role | None = None


@dataclass(frozen=True)
class Attachment:
    """A file on a message; relays pass it on as a link with its name and size."""

    name: str
    url: str
    size: int | None = None  # bytes
    content_type: str | None = None


@dataclass(frozen=True)
class ChatMessage:
    """A message as fetched from a platform (e.g. the one a 💡 was put on).

    `text` is plain text (what search and insights keep); `markup` is the platform's own
    markup of the same words (Discord markdown, Slack mrkdwn, Matrix HTML) so a relay can
    carry the formatting through `bot.text.document_of`. None means `text` is all there is.
    """

    ref: MessageRef
    author: UserRef
    text: str
    permalink: str | None = None
    posted_at: datetime | None = None
    markup: str | None = None
    attachments: tuple[Attachment, ...] = ()
    avatar_url: str | None = None  # the author's picture, for attribution on relays
    from_bot: bool = False  # posted by Hearth itself (its bot user or its relay webhook)


@dataclass(frozen=True)
class MessagePosted:
    message: ChatMessage
    reply_to: MessageRef | None = None


@dataclass(frozen=True)
class MessageEdited:
    ref: MessageRef
    text: str
    editor: UserRef
    markup: str | None = None  # as ChatMessage.markup


@dataclass(frozen=True)
class MessageDeleted:
    ref: MessageRef


@dataclass(frozen=True)
class ReactionAdded:
    target: MessageRef
    emoji: str
    user: UserRef
    event_id: str


@dataclass(frozen=True)
class CommandInvoked:
    """A command, as raw text (console, Matrix, Slack) or as options a platform parsed."""

    name: str
    invoker: UserRef
    channel: ChannelRef
    event_id: str
    text: str = ""
    options: dict[str, Any] | None = None
    message: ChatMessage | None = None
    reply_to: MessageRef | None = None
    target: MessageRef | None = None
    direct: bool = False  # sent to the bot privately (a DM), not in a community channel
    extra: dict[str, Any] = field(default_factory=dict)


Event = MessagePosted | MessageEdited | MessageDeleted | ReactionAdded | CommandInvoked
