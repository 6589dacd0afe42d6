"""A channel's top-level history after a message id, for catch-up in channels linked whole.

Discord pages `after=` oldest first for us (discord.py asks 100 at a time), so the bound
keeps the oldest missed messages and the next start goes on from the newest one read.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import discord

from adapters.discord_gateway.delivery import delivery
from bot.events import ChannelRef, MessagePosted
from bot.port import ChannelLog

if TYPE_CHECKING:
    from adapters.discord_gateway.outbound import DiscordPort

POSTED_TYPES = frozenset({discord.MessageType.default, discord.MessageType.reply})


async def channel_history(
    port: DiscordPort, channel: ChannelRef, after: str | None, since: datetime, limit: int
) -> ChannelLog:
    """People's messages newer than `after` and `since`, the oldest `limit` of them (not
    Hearth's own, not other bots', not system messages); see `ChannelHistory`."""
    start = discord.utils.time_snowflake(since)
    if after is not None and after.isdigit():
        start = max(start, int(after))
    messageable = port.client.get_partial_messageable(int(channel.channel))
    posted: list[MessagePosted] = []
    replied: set[str] = set()
    position: str | None = None
    async with delivery():
        async for message in messageable.history(
            limit=limit, after=discord.Object(id=start), oldest_first=True
        ):
            position = str(message.id)
            if message.author.bot or message.webhook_id is not None:
                continue  # Hearth's copies and other bots, as the live path drops them
            if message.type not in POSTED_TYPES:
                continue
            here = port.ref(int(channel.space), int(channel.channel), message.id)
            reply_to = None
            reference = message.reference
            if reference is not None and reference.message_id is not None:
                where = reference.channel_id or message.channel.id
                reply_to = port.ref(int(channel.space), where, reference.message_id)
            posted.append(MessagePosted(port.chat_message(message, here), reply_to=reply_to))
            if message.flags.has_thread:
                replied.add(str(message.id))
    return ChannelLog(tuple(posted), frozenset(replied), position)
