"""Which community a direct message belongs to when the platform's DMs have no space.

Why: on Slack a DM lives in its workspace, on Matrix on the bot's server and on the
console in its one space, so the space's community is the answer (asked which when the
space holds several). A Discord DM belongs to no guild: it belongs to the
community of the guild the person shares with Hearth; when they share several, they are
asked once which one (a menu), and that DM channel is then bound to the chosen community
like any other channel (`bind_channels`), so every instance finds it.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.commands.spec import Reply
from bot.events import ChannelRef, UserRef
from bot.port import OutboundPort, SharedSpaces
from knowledge.directory import Directory
from knowledge.views import CommunityInfo

CHOICE_ID = "hearth:dm-community"  # the menu's id, for the adapter that shows it


@dataclass(frozen=True)
class Ambiguous:
    """The person shares several communities with Hearth: they have to pick one."""

    communities: tuple[CommunityInfo, ...]


async def shared_communities(
    directory: Directory, port: OutboundPort, user: UserRef, platform: str
) -> list[CommunityInfo]:
    """The communities of the spaces both the person and Hearth are in."""
    if not isinstance(port, SharedSpaces):
        return []
    spaces = [s for s in await directory.bound_spaces(platform) if s != "@me"]
    shared = await port.shared_spaces(user.user_id, spaces)
    return await directory.communities_in_spaces(platform, shared)


async def candidates(
    directory: Directory, port: OutboundPort, channel: ChannelRef, user: UserRef
) -> list[CommunityInfo]:
    """The communities a DM may belong to: those of the DM's own space when it is real
    (Slack, Matrix, console), else those of the spaces the person shares with Hearth."""
    if not isinstance(port, SharedSpaces):
        return await directory.communities_in_spaces(channel.platform, [channel.space])
    return await shared_communities(directory, port, user, channel.platform)


async def direct_community(
    directory: Directory, port: OutboundPort, channel: ChannelRef, user: UserRef
) -> CommunityInfo | Ambiguous | None:
    """The community of a DM that no binding names yet."""
    shared = await candidates(directory, port, channel, user)
    if len(shared) == 1:
        return shared[0]
    return Ambiguous(tuple(shared)) if shared else None


def which_one(ambiguous: Ambiguous) -> Reply:
    names = ", ".join(f"**{c.name}**" for c in ambiguous.communities)
    return Reply(
        f"We share several communities: {names}. Choose the one our direct messages "
        "belong to, then send your command again.",
        ephemeral=True,
        choices=(CHOICE_ID, tuple((c.slug, c.name) for c in ambiguous.communities)),
    )


async def choose(
    directory: Directory, port: OutboundPort, channel: ChannelRef, user: UserRef, slug: str
) -> Reply:
    """The person picked `slug` from the menu: bind this DM channel to it, if they share it."""
    shared = await candidates(directory, port, channel, user)
    picked = next((c for c in shared if c.slug == slug), None)
    if picked is None:
        return Reply(
            "You are not in a community by that name with me, so I cannot bind our direct "
            "messages to it.",
            ephemeral=True,
        )
    await directory.bind_channels(picked.id, [(channel.platform, channel.space, channel.channel)])
    return Reply(
        f"Our direct messages now belong to **{picked.name}**. Send your command again.",
        ephemeral=True,
    )
