"""The activities that carry shared knowledge to a linked community on another deployment.

A shared insight is the same `Article` as a public one (same id, HTML escaped, links
vetted, mass mentions defused), with its Markdown as `source` and its author as
`hearthAuthor`, addressed to the linked community's actor only (`as:Public` too when the
insight is public). Adoption of theirs is an `Announce` of their Article. Activity ids
carry the link and a generation (or the edit's time), so a repeated send has the same id
and a re-share after a withdrawal a new one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.federation import documents
from bot.federation.documents import AS, PUBLIC, ArticleText, Urls
from knowledge.views import InsightView


def _to(peer_actor: str, public: bool) -> list[str]:
    return [peer_actor, PUBLIC] if public else [peer_actor]


def article(urls: Urls, view: InsightView, peer_actor: str) -> dict[str, Any]:
    text = ArticleText(view.id, view.title, view.body, view.tags, view.created_at, view.updated_at)
    document = documents.article(urls, text)
    public = view.visibility.value == "public"
    document["to"] = _to(peer_actor, public)
    document["cc"] = []
    if not public:
        del document["url"]  # the garden shows public insights only
    document["source"] = {"content": view.body, "mediaType": "text/markdown"}
    document["hearthAuthor"] = view.author_name
    return document


def _stamp(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


def create(urls: Urls, obj: dict[str, Any], link_id: int, generation: int) -> dict[str, Any]:
    return {
        "@context": AS,
        "id": f"{obj['id']}#share-{link_id}-{generation}",
        "type": "Create",
        "actor": urls.actor,
        "to": obj["to"],
        "object": obj,
    }


def update(urls: Urls, obj: dict[str, Any], link_id: int, version: datetime) -> dict[str, Any]:
    return {
        "@context": AS,
        "id": f"{obj['id']}#share-{link_id}-update-{_stamp(version)}",
        "type": "Update",
        "actor": urls.actor,
        "to": obj["to"],
        "object": obj,
    }


def delete(
    urls: Urls, insight_id: int, peer_actor: str, link_id: int, generation: int
) -> dict[str, Any]:
    object_id = urls.insight(insight_id)
    return {
        "@context": AS,
        "id": f"{object_id}#share-{link_id}-delete-{generation}",
        "type": "Delete",
        "actor": urls.actor,
        "to": [peer_actor],
        "object": {"id": object_id, "type": "Tombstone"},
    }


def announce(urls: Urls, copy_id: int, object_id: str, peer_actor: str) -> dict[str, Any]:
    return {
        "@context": AS,
        "id": f"{urls.actor}/adopted/{copy_id}",
        "type": "Announce",
        "actor": urls.actor,
        "to": [peer_actor],
        "object": object_id,
    }


def undo_announce(urls: Urls, copy_id: int, object_id: str, peer_actor: str) -> dict[str, Any]:
    announced = announce(urls, copy_id, object_id, peer_actor)
    return {
        "@context": AS,
        "id": f"{announced['id']}#undo",
        "type": "Undo",
        "actor": urls.actor,
        "to": [peer_actor],
        "object": {k: v for k, v in announced.items() if k != "@context"},
    }


# A steward's word about one link, as `Add`/`Remove` of the linked community's actor to a
# collection of this community named for it: `…/sharing-with` (knowledge sharing on/off),
# `…/paused-with` (the link paused/resumed). Mastodon acts on Add/Remove only for its
# featured collections, so another server ignores these harmlessly.
SHARING, PAUSED = "sharing-with", "paused-with"


def consent(
    urls: Urls, peer_actor: str, what: str, on: bool, link_id: int, seq: int
) -> dict[str, Any]:
    return {
        "@context": AS,
        "id": f"{urls.actor}#link-{link_id}-{what}-{seq}",
        "type": "Add" if on else "Remove",
        "actor": urls.actor,
        "to": [peer_actor],
        "object": peer_actor,
        "target": f"{urls.actor}/{what}",
    }


def consent_of(actor: str, target: object) -> str | None:
    """Which of the actor's words an Add/Remove `target` names (SHARING or PAUSED), or
    None for any other collection (e.g. Mastodon's featured posts)."""
    for what in (SHARING, PAUSED):
        if target == f"{actor}/{what}":
            return what
    return None
