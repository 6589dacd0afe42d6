"""The outbound port every adapter implements, and the typed failures it may raise.

Kept as small as discord.py's Messageable: rituals and relays need no more than this.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from bot.events import ChannelRef, ChatMessage, MessagePosted, MessageRef
from bot.text.model import Document
from bot.text.neutral import parse


@dataclass(frozen=True)
class Attribution:
    """Who really wrote a relayed message, and where; each adapter shows it natively
    (Discord webhook name + avatar, Slack username + icon, a name prefix on Matrix)."""

    author: str
    community: str
    avatar_url: str | None = None
    link: str | None = None  # permalink to the original message


@dataclass(frozen=True)
class OutboundMessage:
    """Neutral text (a Markdown subset); each adapter renders it for its platform.

    A relayed copy carries `attribution` and the original's `document`: adapters render it
    with `for_relay=True` (every mention a plain name, never a ping). `idempotency_key`
    names the send: adapters that can (console transcript, Matrix transaction ids) make a
    second send of the same key return the first message instead of posting again;
    `maybe_posted` says an earlier attempt may have reached the platform (a crash or a
    timeout after sending), so adapters that can only look (Slack, Discord) should look.
    """

    text: str
    ephemeral: bool = False
    attribution: Attribution | None = None
    document: Document | None = None
    idempotency_key: str | None = None
    maybe_posted: bool = False

    def relay_document(self) -> Document:
        """What to render: the original's document for a relay, else the parsed text."""
        return self.document if self.document is not None else parse(self.text)


@dataclass(frozen=True)
class Capabilities:
    threads: bool = True
    edits: bool = True
    ephemeral: bool = False
    native_commands: bool = False
    extra: frozenset[str] = field(default_factory=frozenset)
    dm_replies: bool = False  # a private reply goes by DM where ephemeral ones do not exist

    @property
    def private_replies(self) -> bool:
        """Whether a `Reply(private=True)` reaches only the asker here."""
        return self.ephemeral or self.dm_replies


class DeliveryError(Exception):
    """Base of the failures the outbox and ritual runner decide about."""


class RateLimited(DeliveryError):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limited, retry after {retry_after:.1f}s")
        self.retry_after = retry_after


class TargetGone(DeliveryError):
    """The channel or message no longer exists: retrying cannot help."""


class Forbidden(DeliveryError):
    """The bot lacks the permission: retrying cannot help until someone changes that."""


class Transient(DeliveryError):
    """Network or server trouble: retry with backoff."""


HOST_DOWN = "waiting for"  # how a HostDown reads in the outbox's last error


class HostDown(Transient):
    """Another deployment's server is down, overloaded or unreachable: people there may
    be away for a weekend, so it is retried for `[relay] remote_retry_hours`, not a count."""

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(f"{HOST_DOWN} {host}: {reason}")
        self.host = host


class OutboundPort(Protocol):
    platform: str
    capabilities: Capabilities

    async def post(
        self,
        channel: ChannelRef,
        message: OutboundMessage,
        *,
        thread: MessageRef | None = None,
        reply_to: MessageRef | None = None,
    ) -> MessageRef: ...

    async def edit(self, ref: MessageRef, message: OutboundMessage) -> None: ...

    async def delete(self, ref: MessageRef) -> None: ...

    async def react(self, ref: MessageRef, emoji: str) -> None: ...

    async def fetch_message(self, ref: MessageRef) -> ChatMessage: ...

    async def fetch_thread(self, ref: MessageRef) -> list[ChatMessage]: ...

    def permalink(self, ref: MessageRef) -> str: ...

    def resolve_channel(self, text: str, here: ChannelRef) -> ChannelRef | None:
        """A channel a person named (`#general`, `here`), as a ref; None if it is not one."""
        ...

    def resolve_reference(self, text: str, channel: ChannelRef) -> MessageRef | None:
        """A message id or permalink a person typed, as a ref; None if it is neither."""
        ...


@dataclass(frozen=True)
class Changes:
    """What a platform says changed since a saved position (see `ChangeFeed`).

    `position` is where its history stands now: once everything up to it was handled,
    catch-up saves it and asks from there next time. `touched` holds (space, channel,
    message id) of every message posted, edited or deleted since, and of what each
    replied to, so a relayed thread is touched when its anchor is among them. None: the
    platform cannot tell (no position saved yet, or a history that was replaced).
    """

    position: str
    touched: frozenset[tuple[str, str, str]] | None


@runtime_checkable
class ChangeFeed(Protocol):
    """Optional on a port: the platform's own "what changed since X".

    Catch-up then re-reads only the relayed threads it names; a port without it has every
    relayed thread of the look-back window re-read (at the catch-up pace)."""

    async def changes_since(self, position: str | None) -> Changes: ...


@dataclass(frozen=True)
class ChannelLog:
    """A channel's top-level messages after a position (see `ChannelHistory`).

    `posted`: oldest first, each as its live event (a root's ref has no thread id; an
    inline reply names what it answers). `replied`: ids among them with thread replies.
    `position`: the newest id read, to ask from next time (None: nothing newer)."""

    posted: tuple[MessagePosted, ...]
    replied: frozenset[str]
    position: str | None


@runtime_checkable
class ChannelHistory(Protocol):
    """Optional on a port: a channel's top-level history after a message id.

    Catch-up reads it for channels linked whole, so what was posted there while Hearth
    was down starts its relayed thread as a live message would have."""

    async def channel_history(
        self, channel: ChannelRef, after: str | None, since: datetime, limit: int
    ) -> ChannelLog:
        """Top-level messages newer than `after` (exclusive) and than `since`, at most
        `limit` of the oldest such (the next call goes on from `position`)."""
        ...


@runtime_checkable
class SharedSpaces(Protocol):
    """Optional on a port whose DMs belong to no space (Discord): which of these spaces
    (guilds) the person is a member of, so a DM binds to the community they share."""

    async def shared_spaces(self, user_id: str, spaces: Sequence[str]) -> list[str]: ...
