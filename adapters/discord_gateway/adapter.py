"""The Discord adapter: discord.py's gateway in, the outbound port over its REST client.

discord.py stays in charge of what it does well (rate limits, heartbeats, RESUME after a
disconnect, sharding through `AutoShardedClient`); this module only translates between its
objects and Hearth's neutral events. Every inbound event carries an id that is taken in the
InboundLog before it is handled, so a replay after RESUME or a redelivery is handled once.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord
import structlog

from adapters.discord_gateway.admin import intents
from adapters.discord_gateway.config import DiscordConfig
from adapters.discord_gateway.interactions import Interactions
from adapters.discord_gateway.text import LIMIT, NO_MENTIONS, PERMALINK, chunks, render
from bot.commands.spec import CommandTable
from bot.commands.table import build_command_table
from bot.context import Services
from bot.events import (
    ChannelRef,
    ChatMessage,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    MessageRef,
    ReactionAdded,
    UserRef,
)
from bot.inbound import Inbound
from bot.port import (
    Capabilities,
    DeliveryError,
    Forbidden,
    OutboundMessage,
    RateLimited,
    TargetGone,
    Transient,
)
from knowledge.inbound import InboundLog

log = structlog.get_logger(__name__)

PLATFORM = "discord"


@contextlib.asynccontextmanager
async def delivery() -> AsyncIterator[None]:
    """discord.py's failures as the port's typed ones, so callers decide without discord."""
    try:
        yield
    except discord.RateLimited as exc:
        raise RateLimited(exc.retry_after) from exc
    except discord.NotFound as exc:
        raise TargetGone(str(exc)) from exc
    except discord.Forbidden as exc:
        raise Forbidden(str(exc)) from exc
    except discord.DiscordServerError as exc:
        raise Transient(str(exc)) from exc
    except discord.HTTPException as exc:
        if exc.status == 429:
            raise RateLimited(1.0) from exc
        raise DeliveryError(str(exc)) from exc
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise Transient(str(exc)) from exc


class _Client(discord.AutoShardedClient):
    """Forwards discord.py's events to the adapter (a subclass types them, `@event` cannot)."""

    def __init__(self, adapter: DiscordAdapter, **options: Any) -> None:
        super().__init__(**options)
        self._adapter = adapter

    async def on_ready(self) -> None:
        self._adapter.ready.set()

    async def on_error(self, event_method: str, /, *args: Any, **kwargs: Any) -> None:
        """An exception escaped a handler: log it, and keep it for whoever watches."""
        error = sys.exc_info()[1]
        if error is not None:
            self._adapter.errors.append(error)
        log.error("discord.handler_failed", handler=event_method, exc_info=True)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        await self._adapter.interactions.handle(interaction)

    async def on_message(self, message: discord.Message) -> None:
        await self._adapter.on_message(message)

    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        await self._adapter.on_edit(payload)

    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        await self._adapter.on_delete(payload)

    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        await self._adapter.on_reaction(payload)


class DiscordAdapter:
    platform = PLATFORM
    capabilities = Capabilities(threads=True, edits=True, ephemeral=True, native_commands=True)

    def __init__(
        self,
        config: DiscordConfig,
        *,
        services: Services | None = None,
        inbound_log: InboundLog | None = None,
        table: CommandTable | None = None,
        **client_options: Any,
    ) -> None:
        """`services` enables autocomplete and role mapping; `inbound_log` makes plain
        messages, edits and deletions at-most-once across restarts (commands and reactions
        are already deduplicated by `Inbound`). `client_options` reach discord.py (tests
        pass a short `guild_ready_timeout`)."""
        self._config = config
        self._inbound: Inbound | None = None
        self._seen = inbound_log
        self.ready = asyncio.Event()
        self.errors: list[BaseException] = []  # exceptions that escaped event handlers
        options: dict[str, Any] = {
            "intents": intents(),
            "application_id": config.application_id,
            "shard_count": config.shard_count,
            "allowed_mentions": NO_MENTIONS,
            "chunk_guilds_at_startup": False,
            **client_options,
        }
        self.client = _Client(self, **options)
        self.interactions = Interactions(
            self, config, table or (services.table if services else build_command_table()), services
        )
        self._task: asyncio.Task[None] | None = None

    # lifecycle -----------------------------------------------------------------------

    async def connect(self) -> None:
        await self.client.login(self._config.token)

    async def start(self, inbound: Inbound) -> None:
        self._inbound = inbound
        self._task = asyncio.create_task(self.client.connect(reconnect=True))

    async def wait_closed(self) -> None:
        if self._task is not None:
            await asyncio.shield(self._task)

    async def stop(self) -> None:
        await self.client.close()
        if self._task is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await self._task

    @property
    def inbound(self) -> Inbound:
        assert self._inbound is not None, "start() first"
        return self._inbound

    # inbound -------------------------------------------------------------------------

    async def _once(self, event_id: str) -> bool:
        return self._seen is None or await self._seen.take(PLATFORM, event_id)

    async def _done(self, event_id: str) -> None:
        if self._seen is not None:
            await self._seen.done(PLATFORM, event_id)

    async def on_message(self, message: discord.Message) -> None:
        if message.guild is None or message.author.bot or self._inbound is None:
            return
        event_id = f"message:{message.id}"
        if not await self._once(event_id):
            return
        reply_to = None
        reference = message.reference
        if reference is not None and reference.message_id is not None:
            channel_id = reference.channel_id or message.channel.id
            reply_to = self._ref(message.guild.id, channel_id, reference.message_id)
        await self._inbound.message_posted(
            MessagePosted(self.chat_message(message), reply_to=reply_to), self
        )
        await self._done(event_id)

    async def on_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        data: dict[str, Any] = dict(payload.data)
        if payload.guild_id is None or "content" not in data or self._inbound is None:
            return
        author = data.get("author") or {}
        if author.get("bot"):
            return
        event_id = f"edit:{payload.message_id}:{data.get('edited_timestamp')}"
        if not await self._once(event_id):
            return
        ref = self._ref(payload.guild_id, payload.channel_id, payload.message_id)
        name = str(author.get("global_name") or author.get("username") or author.get("id"))
        editor = UserRef(PLATFORM, str(author.get("id", "")), name)
        await self._inbound.message_edited(MessageEdited(ref, str(data["content"]), editor))
        await self._done(event_id)

    async def on_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        if payload.guild_id is None or self._inbound is None:
            return
        event_id = f"delete:{payload.message_id}"
        if not await self._once(event_id):
            return
        ref = self._ref(payload.guild_id, payload.channel_id, payload.message_id)
        await self._inbound.message_deleted(MessageDeleted(ref))
        await self._done(event_id)

    async def on_reaction(self, payload: discord.RawReactionActionEvent) -> None:
        me = self.client.user
        if payload.guild_id is None or self._inbound is None or (me and payload.user_id == me.id):
            return
        emoji = str(payload.emoji)
        name = payload.member.display_name if payload.member else str(payload.user_id)
        event = ReactionAdded(
            target=self._ref(payload.guild_id, payload.channel_id, payload.message_id),
            emoji=emoji,
            user=UserRef(PLATFORM, str(payload.user_id), name),
            # One capture per person, message and emoji, however often it is re-added.
            event_id=f"reaction:{payload.message_id}:{payload.user_id}:{emoji}",
        )
        await self._inbound.reaction(event, self)

    # outbound port -------------------------------------------------------------------

    async def post(
        self,
        channel: ChannelRef,
        message: OutboundMessage,
        *,
        thread: MessageRef | None = None,
        reply_to: MessageRef | None = None,
    ) -> MessageRef:
        if message.ephemeral:
            # Discord shows "only you" text solely as an interaction answer; posting it to
            # the channel would show everyone what was meant for one person.
            raise DeliveryError("ephemeral messages are only possible as interaction answers")
        target = int(channel.channel)
        thread_id: str | None = None
        if thread is not None:
            thread_id = thread.thread_id or await self._thread_for(thread)
            target = int(thread_id)
        elif reply_to is not None and reply_to.thread_id is not None:
            thread_id = reply_to.thread_id
            target = int(thread_id)
        reference = None
        if reply_to is not None:
            reference = discord.MessageReference(
                message_id=int(reply_to.message_id),
                channel_id=target,
                guild_id=int(channel.space),
                fail_if_not_exists=False,
            )
        messageable = self.client.get_partial_messageable(target)
        first: discord.Message | None = None
        async with delivery():
            for part in chunks(render(message.text)):
                if reference is None:
                    sent = await messageable.send(part, allowed_mentions=NO_MENTIONS)
                else:
                    sent = await messageable.send(
                        part, allowed_mentions=NO_MENTIONS, reference=reference
                    )
                first = first or sent
                reference = None
        assert first is not None
        return MessageRef(channel, str(first.id), thread_id)

    async def _thread_for(self, ref: MessageRef) -> str:
        """The thread hanging off a message (same id as the message), opened if need be."""
        channel = self.client.get_partial_messageable(int(ref.channel.channel))
        async with delivery():
            try:
                await self.client.http.start_thread_with_message(
                    channel.id, int(ref.message_id), name="Replies", auto_archive_duration=1440
                )
            except discord.HTTPException as exc:
                if exc.code != 160004:  # "a thread has already been created for this message"
                    raise
        return ref.message_id

    def _partial(self, ref: MessageRef) -> discord.PartialMessage:
        channel = self.client.get_partial_messageable(int(ref.thread_id or ref.channel.channel))
        return channel.get_partial_message(int(ref.message_id))

    async def edit(self, ref: MessageRef, message: OutboundMessage) -> None:
        async with delivery():
            await self._partial(ref).edit(
                content=render(message.text)[:LIMIT], allowed_mentions=NO_MENTIONS
            )

    async def delete(self, ref: MessageRef) -> None:
        async with delivery():
            await self._partial(ref).delete()

    async def react(self, ref: MessageRef, emoji: str) -> None:
        async with delivery():
            await self._partial(ref).add_reaction(emoji)

    async def fetch_message(self, ref: MessageRef) -> ChatMessage:
        async with delivery():
            message = await self._partial(ref).fetch()
        return self.chat_message(message, ref)

    async def fetch_thread(self, ref: MessageRef) -> list[ChatMessage]:
        starter = await self.fetch_message(ref)
        thread = self.client.get_partial_messageable(int(ref.thread_id or ref.message_id))
        replies: list[ChatMessage] = []
        with contextlib.suppress(TargetGone):
            async with delivery():
                async for message in thread.history(limit=500, oldest_first=True):
                    if message.id != int(ref.message_id):
                        here = MessageRef(ref.channel, str(message.id), str(thread.id))
                        replies.append(self.chat_message(message, here))
        return [starter, *replies]

    def permalink(self, ref: MessageRef) -> str:
        where = ref.thread_id or ref.channel.channel
        return f"https://discord.com/channels/{ref.channel.space}/{where}/{ref.message_id}"

    def resolve_channel(self, text: str, here: ChannelRef) -> ChannelRef | None:
        text = text.strip()
        if text.lower() == "here":
            return here
        mention = re.fullmatch(r"<#(\d+)>|#?(\d{15,21})", text)
        if mention:
            return ChannelRef(PLATFORM, here.space, mention.group(1) or mention.group(2))
        guild = self.client.get_guild(int(here.space)) if here.space.isdigit() else None
        named = text.removeprefix("#")
        if guild is None or not text.startswith("#"):
            return None
        found = discord.utils.get(guild.text_channels, name=named)
        return None if found is None else ChannelRef(PLATFORM, here.space, str(found.id))

    def resolve_reference(self, text: str, channel: ChannelRef) -> MessageRef | None:
        text = text.strip().lstrip("#")
        if text.isdigit():
            return MessageRef(channel, text)
        match = PERMALINK.match(text)
        if match is None or match.group(1) != channel.space:
            return None
        ref = self._ref(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        return ref if ref.channel == channel else None

    # helpers -------------------------------------------------------------------------

    def _ref(self, guild_id: int, channel_id: int, message_id: int) -> MessageRef:
        """A message ref whose channel is the bound one: a thread's parent, thread aside."""
        found = self.client.get_channel(channel_id)
        if isinstance(found, discord.Thread) and found.parent_id is not None:
            parent = ChannelRef(PLATFORM, str(guild_id), str(found.parent_id))
            return MessageRef(parent, str(message_id), str(channel_id))
        return MessageRef(ChannelRef(PLATFORM, str(guild_id), str(channel_id)), str(message_id))

    def chat_message(self, message: discord.Message, ref: MessageRef | None = None) -> ChatMessage:
        """`ref` when the caller knows where the message is (a fetch knows no guild)."""
        if ref is None:
            guild_id = message.guild.id if message.guild else 0
            ref = self._ref(guild_id, message.channel.id, message.id)
        return ChatMessage(
            ref=ref,
            author=UserRef(PLATFORM, str(message.author.id), message.author.display_name),
            text=message.content,
            permalink=self.permalink(ref),
            posted_at=message.created_at,
        )
