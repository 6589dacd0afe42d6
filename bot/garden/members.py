"""Signed-in members on the garden: the one-time link, the session cookie, curator edits.

`/garden login` in chat issues the link (knowledge/garden_auth.py). Opening it shows a
button (a GET never spends the link: chat apps fetch links for previews); pressing it
spends it, once, and sets the session cookie: random, HttpOnly, SameSite=Lax, Secure on
https, only its hash in the store. Every form carries the session's CSRF token and is
refused without it or from another origin. A curator's edit calls the same store
operations as /insight edit, /insight retag and /insight share in chat.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from knowledge.errors import NotAllowed, UserError
from knowledge.garden_auth import SESSION_TTL, GardenAuth, SignedIn
from knowledge.insights import InsightStore
from knowledge.ritual_history import RitualHistory
from knowledge.search import SearchBackend, SearchPage, SearchQuery
from knowledge.sharing import SharedKnowledge, SharingScope, Sibling
from knowledge.tags import normalize_tags
from knowledge.views import InsightView
from knowledge.vocabulary import Role, Visibility

COOKIE = "hearth_garden"


@dataclass(frozen=True)
class MemberGarden:
    auth: GardenAuth
    insights: InsightStore
    sharing: SharedKnowledge
    search: SearchBackend
    history: RitualHistory

    async def who(self, request: web.Request, now: Any) -> SignedIn | None:
        token = request.cookies.get(COOKIE)
        if not token or len(token) > 100:
            return None
        return await self.auth.signed_in(token, now)

    async def recent(self, signed: SignedIn, limit: int = 10) -> SearchPage:
        """The newest insights of the member's own community, whatever their visibility."""
        return await self.search.search(SearchQuery(signed.community.id, limit=limit))

    async def scope(self, signed: SignedIn) -> SharingScope:
        """The siblings whose shared insights the member may see now (consent per link,
        read at every request: a link paused or unshared hides them at once)."""
        return await self.sharing.scope(signed.community.id)

    async def shared_recent(
        self, scope: SharingScope, community_id: int | None = None, limit: int = 10
    ) -> list[tuple[Sibling, InsightView]]:
        return await self.sharing.shared_recent(scope, community_id, limit)

    async def shared_insight(
        self, scope: SharingScope, community_id: int, insight_id: int
    ) -> InsightView | None:
        return await self.sharing.shared_insight(scope, community_id, insight_id)

    async def insight(self, signed: SignedIn, insight_id: int) -> InsightView | None:
        try:
            return await self.insights.get(signed.community.id, insight_id)
        except UserError:
            return None

    async def edit(
        self, signed: SignedIn, insight_id: int, form: dict[str, str], now: Any
    ) -> InsightView:
        """Apply a curator's form: the text, the tags, the visibility, each only if it
        changed, through the chat commands' store operations."""
        if not signed.member.role.at_least(Role.CURATOR):
            raise NotAllowed("Only curators can change insights here.")
        current = await self.insights.get(signed.community.id, insight_id)
        body = form.get("body", "").replace("\r\n", "\n")
        if body.strip() and body.strip() != current.body:
            current = await self.insights.edit(signed.community.id, insight_id, signed.member, body)
        tags = split_tags(form.get("tags", ""))
        if tags != current.tags:
            current = await self.insights.retag(
                signed.community.id, insight_id, signed.member, tags
            )
        wanted = form.get("visibility", current.visibility)
        if wanted != current.visibility:
            try:
                visibility = Visibility(wanted)
            except ValueError:
                raise NotAllowed(f"“{wanted}” is not a visibility.") from None
            await self.sharing.set_visibility(
                signed.community.id, insight_id, signed.member, visibility, now
            )
            current = await self.insights.get(signed.community.id, insight_id)
        return current


def split_tags(text: str) -> tuple[str, ...]:
    """`#review, practice` → ("review", "practice"): the form's tag field."""
    return normalize_tags(word for word in text.replace(",", " ").split() if word.strip("#"))


def same_origin(request: web.Request) -> bool:
    """A form posted from this site (or a client that sends no Origin/Referer at all)."""
    origin = request.headers.get("Origin") or request.headers.get("Referer")
    if not origin or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.host


def session_cookie(
    response: web.StreamResponse, request: web.Request, token: str, https: bool
) -> None:
    """`https`: the garden's public address is https (TLS may end at a proxy in front)."""
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(SESSION_TTL.total_seconds()),
        path="/",
        httponly=True,
        samesite="Lax",
        secure=https or request.secure,
    )
