"""The Discord outbound port: Hearth's messages out through discord.py's REST client.

Hearth's own words go as the bot; a relayed copy goes through the channel's relay webhook
(webhooks.py) under the author's name, or as the bot with a prefix where webhooks are not
allowed. Every failure reaches the caller as the port's typed errors (delivery.py).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from typing import Any

import discord
import structlog

from adapters.discord_gateway.delivery import bad_request, delivery, unknown_webhook
from adapters.discord_gateway.text import (
    LIMIT,
    NO_MENTIONS,
    PERMALINK,
    chunks,
    key_mark,
    key_nonce,
    render,
    webhook_username,
)
from adapters.discord_gateway.webhooks import RelayWebhooks
from bot.events import Attachment, ChannelRef, ChatMessage, MessageRef, UserRef
from bot.port import DeliveryError, Forbidden, OutboundMessage, TargetGone
from bot.text import to_discord
from bot.text.relayed import with_author_prefix, with_source_link

log = structlog.get_logger(__name__)

PLATFORM = "discord"
RECENT = 50  # messages looked through for one an earlier attempt may have posted


class DiscordPort:
    """Posts, edits, deletes, reacts and reads through one discord.py client."""

    platform = PLATFORM

    def __init__(self, client: discord.Client) -> None:
        self.client = client
        self.webhooks = RelayWebhooks(client)

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
        parent, thread_id = self.webhooks.home(channel, thread_id)
        for attempt in range(2):
            try:
                webhook = await self.webhooks.relay(parent)
            except Forbidden:
                log.warning("discord.relay_without_webhook", channel=parent)
                return None
            try:
                return await self._execute(webhook, thread_id, message)
            except _FirstPartRefused as refused:
                cause = refused.error
                if isinstance(cause, TargetGone) and unknown_webhook(cause) and attempt == 0:
                    # Someone deleted the webhook: forget it and make a new one, once.
                    self.webhooks.forget(parent)
                    continue
                if isinstance(cause, Forbidden) or bad_request(cause):
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
            parent, thread_id = self.webhooks.home(ref.channel, ref.thread_id)
            webhook = await self.webhooks.known(parent)
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
        parent, thread_id = self.webhooks.home(ref.channel, ref.thread_id)
        webhook = await self.webhooks.known(parent)
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
            await self.webhooks.known(self.webhooks.home(ref.channel, ref.thread_id)[0])
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
        ref = self.ref(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        return ref if ref.channel == channel else None

    async def shared_spaces(self, user_id: str, spaces: Sequence[str]) -> list[str]:
        """The guilds among `spaces` that have this user as a member: the cache first,
        else one REST lookup per guild (Hearth asks for no member list: no members intent).
        A guild that cannot be asked is left out, never fatal."""
        shared: list[str] = []
        for space in spaces:
            guild = self.client.get_guild(int(space)) if space.isdigit() else None
            if guild is None or not user_id.isdigit():
                continue
            if guild.get_member(int(user_id)) is None:
                try:
                    await guild.fetch_member(int(user_id))
                except discord.NotFound:
                    continue
                except discord.HTTPException as exc:
                    log.warning("discord.member_lookup_failed", guild=space, status=exc.status)
                    continue
            shared.append(space)
        return shared

    def ref(self, guild_id: int, channel_id: int, message_id: int) -> MessageRef:
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
            ref = self.ref(guild_id, message.channel.id, message.id)
        me = self.client.user
        ours = (me is not None and message.author.id == me.id) or (
            self.webhooks.ours(message.webhook_id)
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
