"""The JSON-LD documents Hearth serves and sends, shaped as Mastodon reads them.

A community is a `Group` (Mastodon shows it as a group account; Lemmy and others read it
natively) with the security vocabulary's `publicKey`; a public insight is an `Article`
(its HTML built escaped and sanitised by bot/text, mass mentions defused), addressed to
`as:Public` and the community's followers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

from bot.text import to_matrix
from bot.text.neutral import parse as parse_neutral

AS = "https://www.w3.org/ns/activitystreams"
SECURITY = "https://w3id.org/security/v1"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
CONTEXT: list[Any] = [AS, SECURITY]
JRD = "application/jrd+json"
RFC9421 = "https://datatracker.ietf.org/doc/html/rfc9421"


@dataclass(frozen=True)
class Urls:
    """Every address of a community's actor, from the deployment's public base URL."""

    base: str  # e.g. https://garden.example.org
    slug: str

    @property
    def host(self) -> str:
        return urlsplit(self.base).netloc

    @property
    def actor(self) -> str:
        return f"{self.base}/ap/c/{quote(self.slug)}"

    @property
    def key_id(self) -> str:
        return f"{self.actor}#main-key"

    @property
    def inbox(self) -> str:
        return f"{self.actor}/inbox"

    @property
    def outbox(self) -> str:
        return f"{self.actor}/outbox"

    @property
    def followers(self) -> str:
        return f"{self.actor}/followers"

    @property
    def page(self) -> str:
        return f"{self.base}/c/{quote(self.slug)}/"

    def insight(self, insight_id: int) -> str:
        return f"{self.actor}/i/{insight_id}"

    def insight_page(self, insight_id: int) -> str:
        return f"{self.base}/c/{quote(self.slug)}/i/{insight_id}"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def actor(urls: Urls, name: str, summary: str, public_pem: str) -> dict[str, Any]:
    return {
        "@context": CONTEXT,
        "id": urls.actor,
        "type": "Group",
        "preferredUsername": urls.slug,
        "name": name,
        "summary": summary,
        "url": urls.page,
        "inbox": urls.inbox,
        "outbox": urls.outbox,
        "followers": urls.followers,
        "manuallyApprovesFollowers": False,
        "discoverable": True,
        "publicKey": {"id": urls.key_id, "owner": urls.actor, "publicKeyPem": public_pem},
        "endpoints": {"sharedInbox": urls.inbox},
        # FEP-844e: peers that read it sign to Hearth with RFC 9421 (it verifies both)
        "generator": {
            "type": "Application",
            "name": "Hearth",
            "implements": [{"href": RFC9421, "name": "RFC-9421: HTTP Message Signatures"}],
        },
    }


def webfinger(urls: Urls) -> dict[str, Any]:
    return {
        "subject": f"acct:{urls.slug}@{urls.host}",
        "aliases": [urls.actor, urls.page],
        "links": [
            {"rel": "self", "type": "application/activity+json", "href": urls.actor},
            {
                "rel": "http://webfinger.net/rel/profile-page",
                "type": "text/html",
                "href": urls.page,
            },
        ],
    }


def nodeinfo_links(base: str) -> dict[str, Any]:
    return {
        "links": [
            {
                "rel": "http://nodeinfo.diaspora.software/ns/schema/2.0",
                "href": f"{base}/nodeinfo/2.0",
            }
        ]
    }


def nodeinfo(version: str, communities: int, posts: int) -> dict[str, Any]:
    return {
        "version": "2.0",
        "software": {"name": "hearth", "version": version},
        "protocols": ["activitypub"],
        "services": {"inbound": [], "outbound": []},
        "openRegistrations": False,
        "usage": {"users": {"total": communities}, "localPosts": posts},
        "metadata": {},
    }


def collection(url: str, total: int, items: list[Any] | None = None) -> dict[str, Any]:
    document: dict[str, Any] = {
        "@context": AS,
        "id": url,
        "type": "OrderedCollection",
        "totalItems": total,
    }
    if items is not None:
        document["orderedItems"] = items
    return document


@dataclass(frozen=True)
class ArticleText:
    insight_id: int
    title: str | None
    body: str
    tags: tuple[str, ...]
    created_at: datetime
    updated_at: datetime


def article(urls: Urls, text: ArticleText) -> dict[str, Any]:
    _, html = to_matrix(parse_neutral(text.body))  # escaped, links vetted, nh3, defused
    document: dict[str, Any] = {
        "id": urls.insight(text.insight_id),
        "type": "Article",
        "attributedTo": urls.actor,
        "content": html,
        "mediaType": "text/html",
        "url": urls.insight_page(text.insight_id),
        "published": _iso(text.created_at),
        "to": [PUBLIC],
        "cc": [urls.followers],
        "tag": [
            {"type": "Hashtag", "name": f"#{tag}", "href": f"{urls.page}t/{quote(tag)}"}
            for tag in text.tags
        ],
    }
    if text.title:
        document["name"] = text.title
    if text.updated_at > text.created_at:
        document["updated"] = _iso(text.updated_at)
    return document


def create(urls: Urls, obj: dict[str, Any], published: datetime) -> dict[str, Any]:
    return {
        "@context": CONTEXT,
        "id": f"{obj['id']}#create-{int(published.timestamp())}",
        "type": "Create",
        "actor": urls.actor,
        "published": _iso(published),
        "to": [PUBLIC],
        "cc": [urls.followers],
        "object": obj,
    }


def update(urls: Urls, obj: dict[str, Any], when: datetime) -> dict[str, Any]:
    return {
        "@context": CONTEXT,
        "id": f"{obj['id']}#update-{int(when.timestamp())}",
        "type": "Update",
        "actor": urls.actor,
        "published": _iso(when),
        "to": [PUBLIC],
        "cc": [urls.followers],
        "object": obj,
    }


def update_actor(urls: Urls, actor_document: dict[str, Any], when: datetime) -> dict[str, Any]:
    """The actor changed (a new key): followers re-read it from here."""
    return {
        "@context": CONTEXT,
        "id": f"{urls.actor}#update-{int(when.timestamp())}",
        "type": "Update",
        "actor": urls.actor,
        "to": [PUBLIC],
        "object": {k: v for k, v in actor_document.items() if k != "@context"},
    }


def delete(urls: Urls, insight_id: int, when: datetime) -> dict[str, Any]:
    object_id = urls.insight(insight_id)
    return {
        "@context": CONTEXT,
        "id": f"{object_id}#delete-{int(when.timestamp())}",
        "type": "Delete",
        "actor": urls.actor,
        "to": [PUBLIC],
        "cc": [urls.followers],
        "object": {"id": object_id, "type": "Tombstone"},
    }


def accept(urls: Urls, follow: dict[str, Any], key: str) -> dict[str, Any]:
    return {
        "@context": AS,
        "id": f"{urls.actor}#accepts/{key}",
        "type": "Accept",
        "actor": urls.actor,
        "object": {k: v for k, v in follow.items() if k != "@context"},
    }
