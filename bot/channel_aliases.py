"""Channels named by alias in the config (Matrix `#name:server`), bound by their real id.

Events carry the room id, so an alias in `[[communities.channels]]` would match nothing;
once an adapter that can resolve aliases is connected, its answer is bound as well.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import structlog

from bot.config import CommunityConfig
from knowledge.directory import Directory

log = structlog.get_logger(__name__)


@runtime_checkable
class ResolvesAliases(Protocol):
    platform: str

    async def resolve_alias(self, alias: str) -> str | None: ...


async def bind_aliases(
    directory: Directory, communities: Sequence[CommunityConfig], adapter: object
) -> None:
    if not isinstance(adapter, ResolvesAliases):
        return
    for entry in communities:
        for channel in entry.channels:
            if channel.platform != adapter.platform or not channel.channel.startswith("#"):
                continue
            room_id = await adapter.resolve_alias(channel.channel)
            if room_id is None:
                log.warning("channel.alias_unresolved", alias=channel.channel, community=entry.slug)
                continue
            community = await directory.community_by_slug(entry.slug)
            if community is not None:
                await directory.bind_channels(
                    community.id, [(channel.platform, channel.space, room_id)]
                )
                log.info("channel.alias_bound", alias=channel.channel, room=room_id)
