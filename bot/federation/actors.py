"""Remote actors as Hearth needs them: who owns a key, and where their inbox is.

Fetched through `Remote` (SSRF-guarded, size-limited) and kept for a while; a signature
that fails against a cached key is checked once more against a fresh fetch, which is how
a remote key rotation is picked up.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urldefrag

from bot.federation.remote import Remote, RemoteFailed
from bot.federation.schemes import Schemes, advertises_rfc9421, origin_of

CACHE_SECONDS = 3600.0
CACHE_SIZE = 4096
# Signs a GET of a URL (Mastodon's "authorized fetch" refuses unsigned ones)
SignGet = Callable[[str], Awaitable[dict[str, str]]]


@dataclass(frozen=True)
class RemoteActor:
    id: str
    inbox: str
    key_id: str
    public_pem: str


def _text(document: dict[str, Any], key: str) -> str:
    value = document.get(key)
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) else ""


def parse_actor(document: dict[str, Any], key_id: str) -> RemoteActor:
    """The actor behind `key_id` from its document (the actor, or the key itself)."""
    key = document.get("publicKey", document)
    if isinstance(key, list):
        key = next((k for k in key if isinstance(k, dict) and k.get("id") == key_id), {})
    if not isinstance(key, dict):
        raise RemoteFailed("the actor has no public key")
    pem, owner = key.get("publicKeyPem"), _text(key, "owner") or _text(document, "id")
    if not isinstance(pem, str) or not owner:
        raise RemoteFailed("the actor's public key has no PEM or owner")
    if _text(key, "id") and _text(key, "id") != key_id:
        raise RemoteFailed("the actor's key is not the one that signed")
    inbox = _text(document, "inbox")
    endpoints = document.get("endpoints")
    if isinstance(endpoints, dict) and isinstance(endpoints.get("sharedInbox"), str):
        inbox = inbox or endpoints["sharedInbox"]
    return RemoteActor(owner, inbox, key_id, pem)


class RemoteActors:
    def __init__(self, remote: Remote, schemes: Schemes | None = None) -> None:
        self._remote = remote
        self._schemes = schemes or Schemes()
        self._cache: dict[str, tuple[float, RemoteActor]] = {}

    async def by_key(
        self, key_id: str, fresh: bool = False, sign: SignGet | None = None
    ) -> RemoteActor:
        cached = self._cache.get(key_id)
        if cached is not None and not fresh and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1]
        url = urldefrag(key_id).url
        document = await self._remote.get_json(url, await sign(url) if sign else None)
        found = parse_actor(document, key_id)
        self._advertised(document, found)
        if found.id != _text(document, "id") and "publicKeyPem" not in document:
            raise RemoteFailed("the key's owner is not the actor that was fetched")
        if len(self._cache) >= CACHE_SIZE:
            self._cache.clear()
        self._cache[key_id] = (time.monotonic(), found)
        return found

    async def by_id(self, actor_id: str, sign: SignGet | None = None) -> RemoteActor:
        """An actor by its id (e.g. a follower's inbox); cached with its key."""
        for _, known in self._cache.values():
            if known.id == actor_id and known.inbox:
                return known
        document = await self._remote.get_json(actor_id, await sign(actor_id) if sign else None)
        key = document.get("publicKey")
        key_id = _text(key, "id") if isinstance(key, dict) else ""
        found = parse_actor(document, key_id or actor_id)
        self._advertised(document, found)
        return found

    def _advertised(self, document: dict[str, Any], actor: RemoteActor) -> None:
        """Note a server that says it takes RFC 9421 signatures (its inbox's host)."""
        if advertises_rfc9421(document):
            for url in {actor.id, actor.inbox} - {""}:
                self._schemes.supports(origin_of(url), "its actor advertises RFC 9421 (FEP-844e)")
