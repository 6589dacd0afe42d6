"""Catch-up in channels linked whole: top-level messages posted while Hearth was down.

Why apart from re-reading threads: a thread pass only knows threads Hearth already relays,
but in a channel linked whole every new top-level message starts one, and one posted while
Hearth was down has no thread yet. So each such channel's history is read after the
newest message the last pass read there (its position, a `sync_cursors` row), bounded by
the catch-up window and by when the link was accepted, and every message not yet recorded
goes through the live path (`message_posted`), oldest first. The outbox keys make any
overlap with live events harmless; the channel's position is saved once its messages are
queued, so a kill -9 before that reads them again and queues nothing twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import structlog

from bot.events import ChannelRef, MessagePosted
from bot.port import ChannelHistory, DeliveryError, RateLimited
from bot.relay.catch_up import READ_COST, CatchUp, pause
from bot.relay.routing import channel_key
from knowledge.relays import ChannelKey, Participant, RelayStore

log = structlog.get_logger(__name__)

ReadThread = Callable[[Participant], Awaitable[int]]
PostMissed = Callable[[MessagePosted], Awaitable[None]]


async def catch_up_channels(
    store: RelayStore,
    port: ChannelHistory,
    platform: str,
    run: CatchUp,
    now: datetime,
    days: int,
    post: PostMissed,
    read_thread: ReadThread,
) -> int:
    """Every channel on `platform` linked whole; returns how many messages were queued.
    A channel that cannot be read keeps its position (read again at the next start)."""
    changes = 0
    window = now - timedelta(days=days)
    for channel, accepted in (await store.whole_channels(platform)).items():
        if run.stopping.is_set():
            break
        try:
            changes += await _channel(
                store, port, run, channel, max(window, accepted), now, post, read_thread
            )
        except DeliveryError as failure:
            run.complete = False
            log.warning("relay.catch_up_channel_unreadable", channel=channel, reason=str(failure))
        except Exception:  # one unreadable channel must not stop the others or the threads
            run.complete = False
            log.exception("relay.catch_up_channel_failed", channel=channel)
    return changes


async def _channel(
    store: RelayStore,
    port: ChannelHistory,
    run: CatchUp,
    channel: ChannelKey,
    since: datetime,
    now: datetime,
    post: PostMissed,
    read_thread: ReadThread,
) -> int:
    saved = await store.channel_position(channel)
    while True:
        if not await run.pace.take(READ_COST, run.stopping):
            return 0
        try:
            found = await port.channel_history(
                ChannelRef(*channel), saved, since, run.channel_limit
            )
            break
        except RateLimited as limited:  # the platform says when: not a failure
            if not await pause(limited.retry_after, run.stopping):
                return 0
    changes = 0
    for event in found.posted:
        ref = event.message.ref
        if await store.message(channel_key(ref), ref.message_id) is not None:
            continue  # relayed live before the restart, or by an earlier pass
        await post(event)
        if await store.message(channel_key(ref), ref.message_id) is None:
            continue  # not relayed (a command, or no link carries it now)
        changes += 1
        if ref.message_id not in found.replied:
            continue
        located = await store.locate(channel, ref.message_id, ref.message_id, None)
        if located.participant is not None and located.participant.anchor_id == ref.message_id:
            if not await run.pace.take(READ_COST, run.stopping):
                return changes  # position unsaved: the next start reads this channel again
            changes += await read_thread(located.participant)  # replies posted meanwhile
    if found.position is not None:
        await store.save_channel_position(channel, found.position, now)
    log.info("relay.caught_up_channel", channel=channel, changes=changes)
    return changes
