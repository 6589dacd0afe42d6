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
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord
import structlog

from adapters.discord_gateway.admin import intents
from adapters.discord_gateway.config import DiscordConfig
from adapters.discord_gateway.interactions import Interactions
from adapters.discord_gateway.roles import reaction_role
from adapters.discord_gateway.text import (
    LIMIT,
    NO_MENTIONS,
    PERMALINK,
    RELAY_WEBHOOK,
    chunks,
    key_mark,
    key_nonce,
    render,
    webhook_username,
)
from bot.commands.spec import CommandTable
from bot.commands.table import build_command_table
from bot.context import Services
from bot.events import (
    Attachment,
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
from bot.text import to_discord
from bot.text.relayed import with_author_prefix, with_source_link
from knowledge.inbound import InboundLog

log = structlog.get_logger(__name__)

PLATFORM = "discord"
RECENT = 50  # messages looked through for one an earlier attempt may have posted
WEBHOOK_RETRY_SECONDS = 600.0  # after a 403 on webhooks, post with a prefix this long


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
            raise RateLimited(_retry_after(exc)) from exc
        raise DeliveryError(str(exc)) from exc
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise Transient(str(exc)) from exc


def _retry_after(exc: discord.HTTPException) -> float:
    """A 429 that discord.py gave up retrying (its webhook client does so after five)."""
    header = exc.response.headers.get("Retry-After") if exc.response is not None else None
    try:
        return float(header) if header else 1.0
    except ValueError:
        return 1.0


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
            "shard_ids": config.shard_ids,  # None: every shard; else this process's share
            "allowed_mentions": NO_MENTIONS,
            "chunk_guilds_at_startup": False,
            **client_options,
        }
        self.client = _Client(self, **options)
        self.interactions = Interactions(
            self, config, table or (services.table if services else build_command_table()), services
        )
        self._task: asyncio.Task[None] | None = None
        # Relay webhooks by parent channel id (None: looked, there is none), their ids (to
        # recognise our own copies coming back), and when to try creating one again after
        # Discord said 403. One lock per channel, so concurrent relays create one webhook.
        self._webhooks: dict[int, discord.Webhook | None] = {}
        self._relay_ids: set[int] = set()
        self._webhooks_denied: dict[int, float] = {}
        self._webhook_locks: dict[int, asyncio.Lock] = {}

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
        if message.webhook_id is not None and await self._is_relay_copy(message):
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
        webhook_id = data.get("webhook_id")
        if author.get("bot") or (webhook_id is not None and int(webhook_id) in self._relay_ids):
            return
        event_id = f"edit:{payload.message_id}:{data.get('edited_timestamp')}"
        if not await self._once(event_id):
            return
        ref = self._ref(payload.guild_id, payload.channel_id, payload.message_id)
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
        ref = self._ref(payload.guild_id, payload.channel_id, payload.message_id)
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
            target=self._ref(payload.guild_id, payload.channel_id, payload.message_id),
            emoji=emoji,
            user=UserRef(PLATFORM, str(payload.user_id), name, role),
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
        """Hearth's own words as the bot; a relayed copy (`attribution`) through the
        channel's "Hearth relay" webhook under the author's name and picture, or, where
        the bot may not manage webhooks, as the bot with a `**Author** (Community):` prefix.

        With `maybe_posted` and an `idempotency_key`, the last 50 messages of the target
        are looked through first for the key's invisible mark (see `text.key_mark`), and a
        message found is returned instead of posting again."""
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
        key = message.idempotency_key
        if key is not None and message.maybe_posted:
            earlier = await self._posted_with(target, key)
            if earlier is not None:
                return MessageRef(channel, str(earlier), thread_id)
        if message.attribution is not None:
            relayed = await self._post_relayed(channel, thread_id, message)
            if relayed is not None:
                return MessageRef(channel, str(relayed), thread_id)
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
        nonce = key_nonce(key) if key is not None else None
        async with delivery():
            # A relayed copy here is one the webhook could not post: the prefix names the author.
            content = _content(message, prefixed=message.attribution is not None)
            for part in self._parts(content, key):
                options: dict[str, Any] = {"allowed_mentions": NO_MENTIONS}
                if nonce is not None:
                    options["nonce"] = nonce  # discord.py adds `enforce_nonce`
                if reference is not None:
                    options["reference"] = reference
                sent = await messageable.send(part, **options)
                first = first or sent
                reference, nonce = None, None
        assert first is not None
        return MessageRef(channel, str(first.id), thread_id)

    @staticmethod
    def _parts(content: str, key: str | None) -> list[str]:
        """The message in parts of at most 2000 characters, the key's mark on the first."""
        if key is None:
            return chunks(content)
        mark = key_mark(key)
        parts = chunks(content, LIMIT - len(mark))
        return [parts[0] + mark, *parts[1:]]

    async def _posted_with(self, target: int, key: str) -> int | None:
        """The id of a recent message in `target` carrying `key`'s mark, if there is one."""
        mark = key_mark(key)
        messageable = self.client.get_partial_messageable(target)
        async with delivery():
            async for earlier in messageable.history(limit=RECENT):
                if mark in earlier.content:
                    return earlier.id
        return None

    async def _post_relayed(
        self, channel: ChannelRef, thread_id: str | None, message: OutboundMessage
    ) -> int | None:
        """Post through the relay webhook; None when the bot must post it itself (no
        Manage Webhooks, or Discord refused the name or picture) — never lose the copy."""
        credit = message.attribution
        assert credit is not None
        parent, thread_id = self._webhook_home(channel, thread_id)
        for attempt in range(2):
            try:
                webhook = await self._relay_webhook(parent)
            except Forbidden:
                log.warning("discord.relay_without_webhook", channel=parent)
                return None
            try:
                return await self._execute(webhook, thread_id, message)
            except _FirstPartRefused as refused:
                cause = refused.error
                if isinstance(cause, TargetGone) and _unknown_webhook(cause) and attempt == 0:
                    # Someone deleted the webhook: forget it and make a new one, once.
                    self._forget_webhook(parent)
                    continue
                if isinstance(cause, Forbidden) or _bad_request(cause):
                    log.warning("discord.relay_refused", channel=parent, error=str(cause))
                    return None
                raise cause from cause.__cause__
        return None  # pragma: no cover - the loop returns or raises

    async def _execute(
        self, webhook: discord.Webhook, thread_id: str | None, message: OutboundMessage
    ) -> int:
        """Send the copy through `webhook`; a failure of the first part (nothing shown yet)
        is raised as `_FirstPartRefused`, so the caller may fall back or retry."""
        credit = message.attribution
        assert credit is not None
        where: Any = discord.Object(int(thread_id)) if thread_id else discord.utils.MISSING
        first: discord.WebhookMessage | None = None
        for part in self._parts(_content(message), message.idempotency_key):
            try:
                async with delivery():
                    sent = await webhook.send(
                        part,
                        username=webhook_username(credit.author, credit.community),
                        avatar_url=credit.avatar_url or discord.utils.MISSING,
                        allowed_mentions=NO_MENTIONS,
                        wait=True,
                        thread=where,
                    )
            except DeliveryError as exc:
                if first is None:
                    raise _FirstPartRefused(exc) from exc
                raise
            first = first or sent
        assert first is not None
        return first.id

    def _webhook_home(self, channel: ChannelRef, thread_id: str | None) -> tuple[int, str | None]:
        """The channel owning the webhook, and the thread to post in: webhooks belong to a
        thread's parent channel and name the thread per message."""
        found = self.client.get_channel(int(channel.channel))
        if isinstance(found, discord.Thread) and found.parent_id is not None:
            return found.parent_id, thread_id or str(found.id)
        return int(channel.channel), thread_id

    def _lock(self, channel_id: int) -> asyncio.Lock:
        return self._webhook_locks.setdefault(channel_id, asyncio.Lock())

    async def _find_webhook(self, channel_id: int) -> discord.Webhook | None:
        """Our relay webhook on the channel, looked up once (then cached); raises Forbidden
        when the bot may not see the channel's webhooks."""
        if channel_id in self._webhooks:
            return self._webhooks[channel_id]
        me = self.client.user
        async with delivery():
            listed = await self.client.http.channel_webhooks(channel_id)
        found: discord.Webhook | None = None
        for data in listed:
            user: dict[str, Any] = dict(data.get("user") or {})
            owner = user.get("id")
            ours = owner is None or me is None or int(owner) == me.id
            if data.get("name") == RELAY_WEBHOOK and data.get("token") and ours:
                found = discord.Webhook.partial(
                    int(data["id"]), str(data["token"]), client=self.client
                )
                break
        self._remember_webhook(channel_id, found)
        return found

    async def _relay_webhook(self, channel_id: int) -> discord.Webhook:
        """Our relay webhook on the channel, made if there is none yet."""
        async with self._lock(channel_id):
            if time.monotonic() < self._webhooks_denied.get(channel_id, 0.0):
                raise Forbidden("no Manage Webhooks permission (recently refused)")
            try:
                webhook = await self._find_webhook(channel_id)
                if webhook is None:
                    async with delivery():
                        data = await self.client.http.create_webhook(
                            channel_id, name=RELAY_WEBHOOK, reason="Hearth relays"
                        )
                    webhook = discord.Webhook.partial(
                        int(data["id"]), str(data["token"]), client=self.client
                    )
                    self._remember_webhook(channel_id, webhook)
            except Forbidden:
                self._webhooks_denied[channel_id] = time.monotonic() + WEBHOOK_RETRY_SECONDS
                raise
            return webhook

    async def _known_webhook(self, channel_id: int) -> discord.Webhook | None:
        """Our relay webhook if the channel has one (never made here); None also when the
        bot may not see webhooks or Discord does not answer."""
        async with self._lock(channel_id):
            try:
                return await self._find_webhook(channel_id)
            except (Forbidden, TargetGone):
                self._remember_webhook(channel_id, None)
                return None
            except DeliveryError:
                return None

    def _remember_webhook(self, channel_id: int, webhook: discord.Webhook | None) -> None:
        self._webhooks[channel_id] = webhook
        if webhook is not None:
            self._relay_ids.add(webhook.id)

    def _forget_webhook(self, channel_id: int) -> None:
        webhook = self._webhooks.pop(channel_id, None)
        if webhook is not None:
            self._relay_ids.discard(webhook.id)

    async def _is_relay_copy(self, message: discord.Message) -> bool:
        """Whether a webhook message came from our relay webhook (its channel's webhooks
        are looked up once per channel, so copies made before a restart count too)."""
        if message.webhook_id in self._relay_ids:
            return True
        if message.webhook_id == self.client.application_id:
            return False  # an answer to an interaction: the bot's own, not a relay
        channel = message.channel
        parent = getattr(channel, "parent_id", None) or channel.id
        if parent not in self._webhooks:
            await self._known_webhook(parent)
        return message.webhook_id in self._relay_ids

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
        """A relayed copy is edited through the relay webhook (never re-sent); one the bot
        posted itself (the no-webhook fallback) is edited as the bot, prefix and all."""
        key = message.idempotency_key
        if message.attribution is not None:
            parent, thread_id = self._webhook_home(ref.channel, ref.thread_id)
            webhook = await self._known_webhook(parent)
            if webhook is not None:
                where: Any = discord.Object(int(thread_id)) if thread_id else discord.utils.MISSING
                with contextlib.suppress(TargetGone):  # not a webhook copy: the bot's own
                    async with delivery():
                        await webhook.edit_message(
                            int(ref.message_id),
                            content=self._parts(_content(message), key)[0],
                            allowed_mentions=NO_MENTIONS,
                            thread=where,
                        )
                    return
        content = _content(message, prefixed=message.attribution is not None)
        async with delivery():
            await self._partial(ref).edit(
                content=self._parts(content, key)[0], allowed_mentions=NO_MENTIONS
            )

    async def delete(self, ref: MessageRef) -> None:
        """Through the relay webhook when the channel has one (a copy it posted), else, or
        when the webhook does not know the message, as the bot."""
        parent, thread_id = self._webhook_home(ref.channel, ref.thread_id)
        webhook = await self._known_webhook(parent)
        if webhook is not None:
            where: Any = discord.Object(int(thread_id)) if thread_id else discord.utils.MISSING
            with contextlib.suppress(TargetGone):
                async with delivery():
                    await webhook.delete_message(int(ref.message_id), thread=where)
                return
        async with delivery():
            await self._partial(ref).delete()

    async def react(self, ref: MessageRef, emoji: str) -> None:
        async with delivery():
            await self._partial(ref).add_reaction(emoji)

    async def fetch_message(self, ref: MessageRef) -> ChatMessage:
        async with delivery():
            message = await self._partial(ref).fetch()
        if message.webhook_id is not None:
            await self._known_webhook(self._webhook_home(ref.channel, ref.thread_id)[0])
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
        me = self.client.user
        ours = (me is not None and message.author.id == me.id) or (
            message.webhook_id is not None and message.webhook_id in self._relay_ids
        )
        return ChatMessage(
            ref=ref,
            author=UserRef(PLATFORM, str(message.author.id), message.author.display_name),
            text=message.content,
            permalink=self.permalink(ref),
            posted_at=message.created_at,
            markup=message.content,
            attachments=tuple(
                Attachment(a.filename, a.url, a.size, a.content_type) for a in message.attachments
            ),
            avatar_url=message.author.display_avatar.url,
            from_bot=ours,
        )


def _content(message: OutboundMessage, *, prefixed: bool = False) -> str:
    """The Discord text of a message: a relayed copy from the original's document, every
    mention a plain name, with a link to the original (and, `prefixed`, the author's name
    for a copy the bot posts as itself); else the document or the text, rendered."""
    credit = message.attribution
    if credit is None:
        if message.document is not None:
            return to_discord(message.document)
        return render(message.text)
    doc = message.relay_document()
    if prefixed:
        doc = with_author_prefix(doc, credit.author, credit.community)
    return to_discord(with_source_link(doc, credit.link, credit.community), for_relay=True)


class _FirstPartRefused(Exception):
    """The webhook refused the first part of a copy (nothing is shown yet)."""

    def __init__(self, error: DeliveryError) -> None:
        super().__init__(str(error))
        self.error = error


def _unknown_webhook(exc: DeliveryError) -> bool:
    cause = exc.__cause__
    return isinstance(cause, discord.HTTPException) and cause.code == 10015


def _bad_request(exc: DeliveryError) -> bool:
    cause = exc.__cause__
    return isinstance(cause, discord.HTTPException) and cause.status == 400
