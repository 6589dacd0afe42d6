"""The "Hearth relay" webhook of each channel: found or made once, remembered, forgotten.

Why a webhook: a relayed copy shows the author's name and picture, and can be edited and
deleted later through the same webhook. Why remember their ids: our own copies come back
as gateway events, and relaying them again would loop.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import discord

from adapters.discord_gateway.delivery import delivery
from adapters.discord_gateway.text import RELAY_WEBHOOK
from bot.events import ChannelRef
from bot.port import DeliveryError, Forbidden, TargetGone

WEBHOOK_RETRY_SECONDS = 600.0  # after a 403 on webhooks, post with a prefix this long


class RelayWebhooks:
    """Relay webhooks by parent channel id (None: looked, there is none), their ids, and
    when to try creating one again after Discord said 403. One lock per channel, so
    concurrent relays create one webhook."""

    def __init__(self, client: discord.Client) -> None:
        self._client = client
        self._webhooks: dict[int, discord.Webhook | None] = {}
        self._ids: set[int] = set()
        self._denied: dict[int, float] = {}
        self._locks: dict[int, asyncio.Lock] = {}

    def ours(self, webhook_id: int | None) -> bool:
        """Whether a message's webhook is one of our relay webhooks (as far as known)."""
        return webhook_id is not None and webhook_id in self._ids

    def home(self, channel: ChannelRef, thread_id: str | None) -> tuple[int, str | None]:
        """The channel owning the webhook, and the thread to post in: webhooks belong to a
        thread's parent channel and name the thread per message."""
        found = self._client.get_channel(int(channel.channel))
        if isinstance(found, discord.Thread) and found.parent_id is not None:
            return found.parent_id, thread_id or str(found.id)
        return int(channel.channel), thread_id

    async def relay(self, channel_id: int) -> discord.Webhook:
        """Our relay webhook on the channel, made if there is none yet."""
        async with self._lock(channel_id):
            if time.monotonic() < self._denied.get(channel_id, 0.0):
                raise Forbidden("no Manage Webhooks permission (recently refused)")
            try:
                webhook = await self._find(channel_id)
                if webhook is None:
                    async with delivery():
                        data = await self._client.http.create_webhook(
                            channel_id, name=RELAY_WEBHOOK, reason="Hearth relays"
                        )
                    webhook = discord.Webhook.partial(
                        int(data["id"]), str(data["token"]), client=self._client
                    )
                    self._remember(channel_id, webhook)
            except Forbidden:
                self._denied[channel_id] = time.monotonic() + WEBHOOK_RETRY_SECONDS
                raise
            return webhook

    async def known(self, channel_id: int) -> discord.Webhook | None:
        """Our relay webhook if the channel has one (never made here); None also when the
        bot may not see webhooks or Discord does not answer."""
        async with self._lock(channel_id):
            try:
                return await self._find(channel_id)
            except (Forbidden, TargetGone):
                self._remember(channel_id, None)
                return None
            except DeliveryError:
                return None

    def forget(self, channel_id: int) -> None:
        """Someone deleted the webhook: the next relay makes a new one."""
        webhook = self._webhooks.pop(channel_id, None)
        if webhook is not None:
            self._ids.discard(webhook.id)

    async def is_relay_copy(self, message: discord.Message) -> bool:
        """Whether a webhook message came from our relay webhook (its channel's webhooks
        are looked up once per channel, so copies made before a restart count too)."""
        if message.webhook_id in self._ids:
            return True
        if message.webhook_id == self._client.application_id:
            return False  # an answer to an interaction: the bot's own, not a relay
        channel = message.channel
        parent = getattr(channel, "parent_id", None) or channel.id
        if parent not in self._webhooks:
            await self.known(parent)
        return message.webhook_id in self._ids

    def _lock(self, channel_id: int) -> asyncio.Lock:
        return self._locks.setdefault(channel_id, asyncio.Lock())

    async def _find(self, channel_id: int) -> discord.Webhook | None:
        """Our relay webhook on the channel, looked up once (then cached); raises Forbidden
        when the bot may not see the channel's webhooks."""
        if channel_id in self._webhooks:
            return self._webhooks[channel_id]
        me = self._client.user
        async with delivery():
            listed = await self._client.http.channel_webhooks(channel_id)
        found: discord.Webhook | None = None
        for data in listed:
            user: dict[str, Any] = dict(data.get("user") or {})
            owner = user.get("id")
            mine = owner is None or me is None or int(owner) == me.id
            if data.get("name") == RELAY_WEBHOOK and data.get("token") and mine:
                found = discord.Webhook.partial(
                    int(data["id"]), str(data["token"]), client=self._client
                )
                break
        self._remember(channel_id, found)
        return found

    def _remember(self, channel_id: int, webhook: discord.Webhook | None) -> None:
        self._webhooks[channel_id] = webhook
        if webhook is not None:
            self._ids.add(webhook.id)
