"""Shared knowledge from a linked community on another deployment (after the inbox's
verified, durable write, once; only the actor of an active link reaches here).

`Create`/`Update(Article)` addressed to this community → its shared insight, a row of its
`slug@host` community, searchable with `scope:constellation` like a sibling's; `Delete`
of it → gone (copies here keep a note). `Announce` of one of our shared insights → its
adoption, as a local sibling's; `Undo(Announce)` → un-adopted. Remote words are cut to
our limits, stripped of HTML when no Markdown source came, and mass mentions defused
before they are stored; every renderer defuses again when showing them.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from bot.federation import documents
from bot.federation.link_words import note_words, text_of
from bot.text.safety import clean_name, defuse_discord, defuse_mass_mentions
from knowledge.clock import Clock
from knowledge.directory import Directory
from knowledge.errors import UserError
from knowledge.federation_links import Peer
from knowledge.federation_shared_in import RemoteArticle, SharedInbound
from knowledge.insight_text import MAX_BODY_CHARS, MAX_TITLE_CHARS
from knowledge.tags import MAX_TAGS_PER_INSIGHT, normalize_tag


def _defused(text: str) -> str:
    return defuse_discord(defuse_mass_mentions(text))


def hashtags(obj: dict[str, Any]) -> tuple[str, ...]:
    found: list[str] = []
    tags = obj.get("tag")
    for tag in tags if isinstance(tags, list) else []:
        name = tag.get("name") if isinstance(tag, dict) else None
        if not isinstance(name, str) or tag.get("type") != "Hashtag":
            continue
        try:
            found.append(normalize_tag(name))
        except UserError:
            continue  # a tag we could not keep is left out, the insight is not
    return tuple(dict.fromkeys(found))[:MAX_TAGS_PER_INSIGHT]


class ShareInbox:
    def __init__(self, store: SharedInbound, directory: Directory, clock: Clock) -> None:
        self._store = store
        self._directory = directory
        self._clock = clock

    async def left(self, peer: Peer) -> int:
        """The link ended: what its other side shared with us, and its copies of ours, go."""
        return await self._store.left(peer)

    async def handle(
        self, kind: str, payload: dict[str, Any], actor: str, urls: documents.Urls, peer: Peer
    ) -> str | None:
        """The outcome, or None when the activity is not about shared knowledge."""
        obj = payload.get("object")
        if kind in ("Create", "Update", "Delete") and not _addressed(urls.actor, payload, obj):
            return None  # e.g. a public Article to its followers: not shared with us
        if kind in ("Create", "Update"):
            if not isinstance(obj, dict) or obj.get("type") != "Article":
                return None
            return await self._article(obj, actor, urls, peer)
        if kind == "Delete":
            object_id = text_of(obj)
            if object_id and await self._store.withdrawn(peer, object_id):
                return "shared: withdrawn"
            return None  # perhaps a relayed Note's deletion
        if kind == "Announce":
            insight_id = our_insight_id(text_of(obj), urls)
            if insight_id is None:
                return "ignored: an Announce of something not ours"
            return await self._store.adopted(peer, insight_id, self._clock.now())
        if kind == "Undo" and isinstance(obj, dict) and obj.get("type") == "Announce":
            if text_of(obj.get("actor")) not in ("", actor):
                return "ignored: an Undo of someone else's Announce"
            insight_id = our_insight_id(text_of(obj.get("object")), urls)
            if insight_id is not None and await self._store.unadopted(peer, insight_id):
                return "un-adopted"
            return "ignored: nothing adopted"
        return None

    async def _article(
        self, obj: dict[str, Any], actor: str, urls: documents.Urls, peer: Peer
    ) -> str:
        object_id = text_of(obj)
        host = urlsplit(actor).netloc.lower()
        if not object_id or urlsplit(object_id).netloc.lower() != host:
            return "ignored: an Article of another server"
        if text_of(obj.get("attributedTo")) not in ("", actor):
            return "ignored: an Article attributed to someone else"
        text, markup = note_words(obj)
        body = _defused((markup or text).strip())[:MAX_BODY_CHARS]
        if not body:
            return "ignored: an empty Article"
        name = obj.get("name")
        title = " ".join(name.split())[:MAX_TITLE_CHARS] if isinstance(name, str) else ""
        remote = await self._directory.community_by_id(peer.remote_community_id)
        where = remote.slug if remote is not None else host
        author = obj.get("hearthAuthor")
        who = clean_name(author if isinstance(author, str) else "", where)[:80]
        url = text_of(obj.get("url"))
        article = RemoteArticle(
            object_id=object_id,
            title=_defused(title) or None,
            body=body,
            tags=hashtags(obj),
            credit=_defused(f"{who} ({where})")[:300],
            url=url if urlsplit(url).scheme in ("https", "http") else None,
        )
        return await self._store.received(peer, urls.slug, article, self._clock.now())


def _addressed(actor: str, *documents_: Any) -> bool:
    """Whether this community's actor is named in `to`/`cc`: a shared insight is sent to
    the linked community; the same Article sent to followers (a public one, which a linked
    deployment also follows) is not a share, and its Delete withdraws no share."""
    for document in documents_:
        if not isinstance(document, dict):
            continue
        for field in ("to", "cc"):
            named = document.get(field)
            if named == actor or (isinstance(named, list) and actor in named):
                return True
    return False


def our_insight_id(object_id: str, urls: documents.Urls) -> int | None:
    """The insight id of one of this community's Articles, else None."""
    prefix = urls.insight(0)[:-1]
    rest = object_id[len(prefix) :] if object_id.startswith(prefix) else ""
    return int(rest) if rest.isascii() and rest.isdigit() and len(rest) < 19 else None
