"""What a linked deployment's verified activities do here (after the inbox's durable
write, once): a Follow carrying a code, Accept/Reject of this side's Follow, Undo(Follow)
ending the link (what came over it goes, both sides), Add/Remove saying the other
steward turned knowledge sharing or the pause on or off, relayed messages as
Create/Update/Delete(Note), and shared knowledge (Article, Announce:
bot/federation/share_inbox.py).

Relayed Notes go into the relay pipeline as events of the `activitypub` platform (space
= this community, channel = the remote actor), so they reach the linked local channel
through the same outbox, rules and renderers as any platform's messages: attributed to
their author and community, sanitised when rendered, every mention a plain name. Only an
active link's remote actor, signing its own Notes, is heard; the rest is ignored.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from bot.events import (
    ChannelRef,
    ChatMessage,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    MessageRef,
    UserRef,
)
from bot.federation import documents
from bot.federation.link_words import note_words, text_of
from bot.federation.links import LinkActivities
from bot.federation.share_inbox import ShareInbox
from bot.federation.shared_documents import SHARING, consent_of
from bot.relay.service import Relays
from knowledge.clock import Clock
from knowledge.directory import Directory
from knowledge.errors import UserError
from knowledge.federation import InboxItem
from knowledge.federation_links import PLATFORM, FederatedLinks, Peer


def _author(note: dict[str, Any], fallback: str) -> str:
    name = note.get("hearthAuthor")
    if not isinstance(name, str) or not name.strip():
        return fallback
    return " ".join(name.split())[:80]


class LinkInbox:
    def __init__(
        self,
        activities: LinkActivities,
        store: FederatedLinks,
        relays: Relays,
        directory: Directory,
        clock: Clock,
        sharing: ShareInbox,
    ) -> None:
        self._sharing = sharing
        self._activities = activities
        self._store = store
        self._relays = relays
        self._directory = directory
        self._clock = clock

    async def handle(self, item: InboxItem, urls: documents.Urls) -> str | None:
        """The outcome, or None when the activity is not about a link (the inbox's own
        handling goes on)."""
        kind = item.payload.get("type")
        if kind == "Follow" and "hearthInvite" in item.payload:
            if text_of(item.payload.get("object")) != urls.actor:
                return "ignored: a Follow of someone else"
            return await self._activities.followed_with_code(item, urls)
        if kind in ("Accept", "Reject"):
            return await self._activities.answered(item)
        peer = await self._store.peer(urls.slug, item.actor)
        if peer is None:
            return None
        undone = item.payload.get("object")
        if kind == "Undo" and isinstance(undone, dict) and undone.get("type") == "Follow":
            await self._remote_left(peer)
            return None  # the follower goes too
        if kind in ("Add", "Remove"):
            return await self._consent(item, urls, peer, kind == "Add")
        try:
            shared = await self._sharing.handle(str(kind), item.payload, item.actor, urls, peer)
            if shared is not None or kind not in ("Create", "Update", "Delete"):
                return shared
            return await self._relayed(item, urls, peer, str(kind))
        except UserError as exc:
            return f"ignored: {exc}"

    async def _consent(self, item: InboxItem, urls: documents.Urls, peer: Peer, on: bool) -> str:
        """The other steward turned knowledge sharing or the pause over the link on or
        off (bot/federation/shared_documents.py): their side of the link here says so, as
        a sibling's would inside one deployment; our shares follow on the next round."""
        what = consent_of(item.actor, text_of(item.payload.get("target")))
        if text_of(item.payload.get("object")) != urls.actor or what is None:
            return "ignored: an Add or Remove of something else"
        link = await self._relays.links.get(peer.link_id)
        other = link.other(peer.local_community_id) if link is not None else None
        if link is None or other is None:
            return "ignored: no link"
        if what == SHARING:
            await self._relays.links.set_scope(
                peer.link_id, peer.remote_community_id, shares_knowledge=on
            )
            said = "shares knowledge with us now" if on else "stopped sharing knowledge"
        else:
            await self._relays.links.set_paused(
                peer.link_id, peer.remote_community_id, on, self._clock.now()
            )
            self._relays.wake.set()  # what waited for the pause to end goes now
            said = "paused the link (both ways)" if on else "resumed the link"
        mine = link.side(peer.local_community_id)
        await self._relays.announce(mine, f"🔗 **{other.name}** {said}.")
        return f"{what}: {'on' if on else 'off'}"

    async def _remote_left(self, peer: Peer) -> None:
        now = self._clock.now()
        await self._sharing.left(peer)  # first: a crash before the leave repeats it
        await self._relays.links.leave(peer.link_id, peer.remote_community_id, now)
        link = await self._relays.links.get(peer.link_id)
        if link is None:
            return
        mine = link.side(peer.local_community_id)
        other = link.other(peer.local_community_id)
        name = other.slug if other else "the other community"
        await self._relays.announce(
            mine, f"🔗 **{name}** left the link: relays between us have stopped."
        )

    async def _relayed(
        self, item: InboxItem, urls: documents.Urls, peer: Peer, kind: str
    ) -> str | None:
        obj = item.payload.get("object")
        note_id = text_of(obj)
        host = urlsplit(item.actor).netloc.lower()
        if not note_id or urlsplit(note_id).netloc.lower() != host:
            return "ignored: a Note of another server"
        channel = ChannelRef(PLATFORM, urls.slug, item.actor)
        if kind == "Delete":
            await self._relays.message_deleted(MessageDeleted(MessageRef(channel, note_id)))
            return "relayed: deletion"
        if not isinstance(obj, dict) or obj.get("type") != "Note":
            return None  # e.g. a public Article: nothing to relay
        if text_of(obj.get("attributedTo")) not in ("", item.actor):
            return "ignored: a Note attributed to someone else"
        text, markup = note_words(obj)
        context = text_of(obj.get("context")) or note_id
        above = text_of(obj.get("inReplyTo"))
        thread = context if context != note_id else None
        ref = MessageRef(channel, note_id, thread_id=thread)
        link = await self._relays.links.get(peer.link_id)
        if link is None:
            return "ignored: no link"
        other = link.other(peer.local_community_id)
        author = UserRef(PLATFORM, item.actor, _author(obj, other.name if other else host))
        if kind == "Update":
            await self._relays.message_edited(MessageEdited(ref, text, author, markup))
            return "relayed: edit"
        url = text_of(obj.get("url"))
        message = ChatMessage(
            ref,
            author,
            text,
            permalink=url if urlsplit(url).scheme in ("https", "http") else None,
            posted_at=self._clock.now(),
            markup=markup,
        )
        if thread is None and not above:
            if await self._relays.store.message((PLATFORM, urls.slug, item.actor), note_id):
                return "relayed: seen before"
            remote = await self._directory.community_by_id(peer.remote_community_id)
            if remote is None:
                return "ignored: no community"
            await self._relays.relay_thread(remote, [message], [link])
            return "relayed: new thread"
        reply_to = MessageRef(channel, above or context, thread_id=context)
        await self._relays.message_posted(MessagePosted(message, reply_to))
        return "relayed: reply"
