"""The Discord adapter: discord.py's gateway in, the outbound port (outbound.py) out.

discord.py stays in charge of what it does well (rate limits, heartbeats, RESUME after a
disconnect, sharding through `AutoShardedClient`); this module only translates its events
into Hearth's neutral ones. Every inbound event carries an id that is taken in the
InboundLog before it is handled, so a replay after RESUME or a redelivery is handled once.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from typing import Any

import discord
import structlog

from adapters.discord_gateway.admin import intents
from adapters.discord_gateway.config import DiscordConfig
from adapters.discord_gateway.interactions import Interactions
from adapters.discord_gateway.outbound import PLATFORM, DiscordPort
from adapters.discord_gateway.roles import reaction_role
from adapters.discord_gateway.text import NO_MENTIONS
from bot.commands.spec import CommandTable
from bot.commands.table import build_command_table
from bot.events import MessageDeleted, MessageEdited, MessagePosted, ReactionAdded, UserRef
from bot.inbound import EventLog, Inbound
from bot.port import Capabilities
from bot.suggestions import Suggestions

log = structlog.get_logger(__name__)

__all__ = ["PLATFORM", "DiscordAdapter"]


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


class DiscordAdapter(DiscordPort):
    capabilities = Capabilities(threads=True, edits=True, ephemeral=True, native_commands=True)

    def __init__(
        self,
        config: DiscordConfig,
        *,
        suggestions: Suggestions | None = None,
        inbound_log: EventLog | None = None,
        table: CommandTable | None = None,
        **client_options: Any,
    ) -> None:
        """`suggestions` enables autocomplete; `inbound_log` makes plain
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
            "shard_ids": config.shard_ids,  # None: every shard; else this process's share
            "allowed_mentions": NO_MENTIONS,
            "chunk_guilds_at_startup": False,
            **client_options,
        }
        super().__init__(_Client(self, **options))
        self.interactions = Interactions(self, config, table or build_command_table(), suggestions)
        self._task: asyncio.Task[None] | None = None

    # lifecycle -----------------------------------------------------------------------

    async def connect(self) -> None:
        await self.client.login(self._config.token)

    async def start(self, inbound: Inbound) -> None:
        self._inbound = inbound
        self._task = asyncio.create_task(self.client.connect(reconnect=True))

    async def readiness(self) -> str | None:
        if self.client.is_closed():
            return "the Discord gateway connection is closed"
        if not self.client.is_ready():
            return "the Discord gateway is not ready (connecting or resuming)"
        return None

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
        return self._seen is None or await self._seen.take(PLATFORM, event_id) is not None

    async def _done(self, event_id: str) -> None:
        if self._seen is not None:
            await self._seen.done(PLATFORM, event_id)

    async def on_message(self, message: discord.Message) -> None:
        if message.guild is None or self._inbound is None:
            return
        if message.webhook_id is not None and await self.webhooks.is_relay_copy(message):
            return  # our own relayed copy coming back: relaying it again would loop
        if message.author.bot:
            return
        event_id = f"message:{message.id}"
        if not await self._once(event_id):
            return
        reply_to = None
        reference = message.reference
        if reference is not None and reference.message_id is not None:
            channel_id = reference.channel_id or message.channel.id
            reply_to = self.ref(message.guild.id, channel_id, reference.message_id)
        await self._inbound.message_posted(
            MessagePosted(self.chat_message(message), reply_to=reply_to), self
        )
        await self._done(event_id)

    async def on_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        data: dict[str, Any] = dict(payload.data)
        if payload.guild_id is None or "content" not in data or self._inbound is None:
            return
        author = data.get("author") or {}
        webhook_id = data.get("webhook_id")
        if author.get("bot") or self.webhooks.ours(int(webhook_id) if webhook_id else None):
            return
        event_id = f"edit:{payload.message_id}:{data.get('edited_timestamp')}"
        if not await self._once(event_id):
            return
        ref = self.ref(payload.guild_id, payload.channel_id, payload.message_id)
        name = str(author.get("global_name") or author.get("username") or author.get("id"))
        editor = UserRef(PLATFORM, str(author.get("id", "")), name)
        content = str(data["content"])
        await self._inbound.message_edited(MessageEdited(ref, content, editor, markup=content))
        await self._done(event_id)

    async def on_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        if payload.guild_id is None or self._inbound is None:
            return
        event_id = f"delete:{payload.message_id}"
        if not await self._once(event_id):
            return
        ref = self.ref(payload.guild_id, payload.channel_id, payload.message_id)
        await self._inbound.message_deleted(MessageDeleted(ref))
        await self._done(event_id)

    async def on_reaction(self, payload: discord.RawReactionActionEvent) -> None:
        me = self.client.user
        if payload.guild_id is None or self._inbound is None or (me and payload.user_id == me.id):
            return
        emoji = str(payload.emoji)
        name = payload.member.display_name if payload.member else str(payload.user_id)
        role = reaction_role(self._config.roles_for(str(payload.guild_id)), payload.member)
        event = ReactionAdded(
            target=self.ref(payload.guild_id, payload.channel_id, payload.message_id),
            emoji=emoji,
            user=UserRef(PLATFORM, str(payload.user_id), name, role),
            # One capture per person, message and emoji, however often it is re-added.
            event_id=f"reaction:{payload.message_id}:{payload.user_id}:{emoji}",
        )
        await self._inbound.reaction(event, self)
