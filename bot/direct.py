"""Which community a direct message belongs to when the platform's DMs have no space.

Why: on Slack a DM lives in its workspace, on Matrix on the bot's server and on the
console in its one space, so the space's community is the answer (asked which when the
space holds several). A Discord DM belongs to no guild: it belongs to the
community of the guild the person shares with Hearth; when they share several, they are
asked once which one (a menu), and that DM channel is then bound to the chosen community
like any other channel (`bind_channels`), so every instance finds it.

How the person picks depends on the platform: Discord and Slack show `Reply.choices` as
a menu; Matrix has no menus, so the question lists the communities by number and a plain
(non-command) message in that still unbound DM is read as the answer (`typed_pick`):
the number, the slug or the name. A command always starts with the prefix, so an answer
is never taken for one.
"""

from __future__ import annotations

from collections.abc import Sequence
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


def numbered(options: Sequence[tuple[str, str]]) -> str:
    """The choices as a typed answer names them: `1. The Forge (forge)` per line."""
    return "\n".join(f"{n}. {name} ({slug})" for n, (slug, name) in enumerate(options, 1))


def typed_pick(options: Sequence[tuple[str, str]], text: str) -> str | None:
    """The slug a typed answer names (its number, slug or name, any case), or None."""
    answer = " ".join(text.split()).strip(" .").casefold()
    if answer.isascii() and answer.isdigit():
        index = int(answer)
        return options[index - 1][0] if 1 <= index <= len(options) else None
    for slug, name in options:
        if answer in (slug.casefold(), " ".join(name.split()).casefold()):
            return slug
    return None


def not_a_choice(options: Sequence[tuple[str, str]], text: str) -> Reply:
    shown = " ".join(text.split())
    shown = shown if len(shown) <= 40 else shown[:39] + "…"
    return Reply(
        f"“{shown}” is not one of the communities I listed: reply with a number from 1 to "
        f"{len(options)}, or one of {', '.join(s for s, _ in options)}.",
        ephemeral=True,
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


async def typed_answer(
    directory: Directory, port: OutboundPort, channel: ChannelRef, user: UserRef, text: str
) -> Reply | None:
    """A plain message in a DM that has to pick its community, read as the pick; None
    when the DM needs no pick (it is bound, or the space holds one community or none).
    Why no InboundLog: a redelivered pick finds the DM bound and is an ordinary message."""
    if await directory.community_for_channel(channel.platform, channel.space, channel.channel):
        return None
    found = await direct_community(directory, port, channel, user)
    if not isinstance(found, Ambiguous):
        return None
    options = [(c.slug, c.name) for c in found.communities]
    slug = typed_pick(options, text)
    if slug is None:
        return not_a_choice(options, text)
    return await choose(directory, port, channel, user, slug)
