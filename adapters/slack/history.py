"""A channel's top-level history after a ts, for catch-up in channels linked whole.

Why page through everything newer and sort: `conversations.history` answers newest first,
and catch-up must relay the oldest missed messages first (and stop at a bound there, so
the next start goes on from the newest one relayed).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.webapi import call, data
from bot.events import ChannelRef, ChatMessage, MessagePosted
from bot.port import ChannelLog

ToMessage = Callable[[ChannelRef, dict[str, Any]], Awaitable[ChatMessage]]

POSTED_SUBTYPES = frozenset({None, "thread_broadcast", "file_share", "me_message"})
PAGE = 200  # messages asked for per page (Slack allows up to 999)


def ts_key(ts: str) -> tuple[int, int]:
    """A ts as a number pair (`1712345678.000100`), ordered as Slack orders them."""
    seconds, _, fraction = ts.partition(".")
    try:
        return int(seconds), int(fraction or 0)
    except ValueError:
        return 0, 0


def ts_of(moment: datetime) -> str:
    return f"{moment.timestamp():.6f}"


async def channel_history(
    client: AsyncWebClient,
    to_message: ToMessage,
    channel: ChannelRef,
    after: str | None,
    since: datetime,
    limit: int,
) -> ChannelLog:
    """Top-level messages (people's posts, not joins or other events) newer than `after`
    and `since`, the oldest `limit` of them; see `ChannelHistory`."""
    oldest = max(after or "0", ts_of(since), key=ts_key)
    raws: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        request = client.conversations_history(
            channel=channel.channel, oldest=oldest, limit=PAGE, cursor=cursor
        )
        body = data(await call("conversations.history", request))
        raws.extend(body.get("messages") or [])
        cursor = (body.get("response_metadata") or {}).get("next_cursor") or None
        if not cursor:
            break
    newer = sorted(
        (r for r in raws if ts_key(str(r.get("ts") or "")) > ts_key(oldest)),
        key=lambda r: ts_key(str(r.get("ts") or "")),
    )[:limit]
    posted: list[MessagePosted] = []
    replied: set[str] = set()
    for raw in newer:
        if raw.get("thread_ts") not in (None, raw.get("ts")):
            continue  # a reply also sent to the channel: its thread carries it
        if raw.get("subtype") not in POSTED_SUBTYPES:
            continue
        message = await to_message(channel, raw)
        root = dataclasses.replace(message.ref, thread_id=None)
        posted.append(MessagePosted(dataclasses.replace(message, ref=root)))
        if raw.get("reply_count") or raw.get("latest_reply"):
            replied.add(message.ref.message_id)
    position = str(newer[-1].get("ts")) if newer else None
    return ChannelLog(tuple(posted), frozenset(replied), position)
