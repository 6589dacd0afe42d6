"""Where a relayed message goes: pure decisions over links and participants.

Kept apart from `Relays` (which reads and writes) so the rules read on their own: which
messages are people's words, which linked communities a thread may reach, and which
participants a message may be copied to, each over a link that carries it now.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from bot.events import ChannelRef, ChatMessage, MessageRef
from knowledge.links import LinkView
from knowledge.outbox import Claimed
from knowledge.relays import ChannelKey, NewTarget, Participant, Recorded, Route
from knowledge.vocabulary import LinkStatus


@dataclass(frozen=True)
class Queued:
    """A message just recorded, with what handing its copies over needs."""

    recorded: Recorded
    routes: int
    everyone: tuple[Participant, ...]
    is_root: bool
    now: datetime


def channel_key(ref: MessageRef) -> ChannelKey:
    return ref.channel.platform, ref.channel.space, ref.channel.channel


def channel_of(participant: Participant) -> ChannelRef:
    return ChannelRef(participant.platform, participant.space, participant.channel)


def relayable(message: ChatMessage, commands: Collection[str]) -> bool:
    """People's words only: not Hearth's own posts, not commands to Hearth."""
    if message.from_bot:
        return False
    text = message.text.lstrip()
    if text[:1] in ("/", "!"):
        word = text[1:].split(maxsplit=1)[0].lower() if len(text) > 1 else ""
        if word in commands:
            return False
    return bool(text) or bool(message.attachments)


def new_targets(
    community_id: int, channel: ChannelKey, links: Sequence[LinkView]
) -> tuple[list[NewTarget], list[str]]:
    """The linked channels a thread started in `channel` may reach now, and their names."""
    targets = []
    names = []
    for link in links:
        other = link.other(community_id)
        if other is None or not link.carries(community_id, other.community_id):
            continue
        if (other.platform, other.space, other.channel) == channel:
            continue
        targets.append(
            NewTarget(other.community_id, link.id, (other.platform, other.space, other.channel))
        )
        names.append(other.name)
    return targets, names


def routes_over(
    source: Participant, others: Sequence[Participant], links: Sequence[LinkView]
) -> tuple[list[Route], str | None]:
    """The other participants this source may send to, each over a link that carries;
    and the source community's name, as the links know it (None: not among them)."""
    name = next(
        (s.name for link in links for s in link.sides if s.community_id == source.community_id),
        None,
    )
    routes = []
    for target in others:
        link = next(
            (link for link in links if link.carries(source.community_id, target.community_id)),
            None,
        )
        if link is not None:
            routes.append(Route(target.id, link.id))
    return routes, name


def handed_claims(done: Queued) -> list[Claimed]:
    """The copies written claimed for this worker, as the worker's claimed items."""
    recorded = done.recorded
    targets = {p.id: p for p in done.everyone}
    return [
        Claimed(
            handed.item_id,
            handed.key,
            "post",
            recorded.message.payload,
            1,
            0,
            False,
            handed.route.link_id,
            recorded.message.id,
            done.is_root,
            replace(targets[handed.route.participant_id], anchor_id=handed.anchor_id),
            None,
            LinkStatus.ACTIVE,  # `routes_over` took only links that carry now
            False,
            done.now,
        )
        for handed in recorded.handed
    ]
