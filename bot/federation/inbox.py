"""A community's inbox: verify, write once, answer 202; handle afterwards.

Checks in order, cheapest first: the remote host's rate (per process, a sliding minute),
the body's size, JSON shape, the blocklist, then the HTTP Signature against the key its
actor publishes: RFC 9421 when the request has `Signature-Input` (Content-Digest, `created`
window; bot/federation/rfc9421.py), else draft-cavage (Digest, Date window); either way
the key's owner must be the activity's actor. A host that signs with RFC 9421 is noted,
so deliveries to it use RFC 9421 too (bot/federation/schemes.py).
Only then is the activity written, idempotent by its id, and 202 answered; Follow and
Undo(Follow) are handled after that durable write, by `InboxHandler.handle_pending`.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import structlog
from aiohttp import web

from bot.config_federation import FederationConfig
from bot.federation import documents, rfc9421
from bot.federation.actors import RemoteActors, SignGet
from bot.federation.remote import RemoteFailed, RemoteRefused, is_blocked
from bot.federation.schemes import Schemes, origin_of
from bot.federation.signatures import SignatureRejected, host_of, parse_signature, verify
from bot.ops.metrics import Metrics
from knowledge.clock import Clock
from knowledge.federation import FederationStore, Follower, InboxItem
from knowledge.federation_queue import Delivery, digest

log = structlog.get_logger(__name__)

SignerFor = Callable[[int], SignGet]  # a community's GET signer


class HostRate:
    """At most `per_minute` requests per remote host in any minute (this process)."""

    def __init__(self, per_minute: int) -> None:
        self._limit = per_minute
        self._seen: dict[str, deque[float]] = {}

    def allow(self, host: str) -> bool:
        now = time.monotonic()
        seen = self._seen.setdefault(host, deque())
        while seen and now - seen[0] > 60.0:
            seen.popleft()
        if len(seen) >= self._limit:
            return False
        seen.append(now)
        if len(self._seen) > 10_000:  # forget idle hosts
            self._seen = {h: q for h, q in self._seen.items() if q and now - q[-1] < 60.0}
        return True


def _refuse(status: int, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=status)


class InboxReceiver:
    def __init__(
        self,
        config: FederationConfig,
        store: FederationStore,
        actors: RemoteActors,
        clock: Clock,
        woken: Callable[[str], None],  # told the type of each activity newly written
        signer: SignerFor,
        metrics: Metrics,
        schemes: Schemes,
    ) -> None:
        self._metrics = metrics
        self._schemes = schemes
        self._config = config
        self._store = store
        self._actors = actors
        self._clock = clock
        self._woken = woken
        self._signer = signer
        self._rate = HostRate(config.requests_per_minute_per_host)

    async def receive(
        self, request: web.Request, community_id: int, urls: documents.Urls
    ) -> web.StreamResponse:
        response = await self._receive(request, community_id, urls)
        outcome = "refused" if response.status != 202 else "accepted"
        if response.headers.get("X-Hearth-Seen") == "1":
            outcome = "duplicate"
        self._metrics.federation_inbox.labels(outcome).inc()
        return response

    async def _receive(
        self, request: web.Request, community_id: int, urls: documents.Urls
    ) -> web.StreamResponse:
        message = "Signature-Input" in request.headers  # RFC 9421, as Mastodon tells them
        try:
            if message:
                key_id = rfc9421.parse_input(request.headers.get("Signature-Input", "")).key_id
            else:
                key_id = parse_signature(request.headers.get("Signature", "")).key_id
        except SignatureRejected as exc:
            return _refuse(401, str(exc))
        host = host_of(key_id)
        if is_blocked(host, self._config.blocked_hosts):
            return _refuse(403, "this server is blocked here")
        if not self._rate.allow(host):
            return _refuse(429, "too many requests from this server")
        limit = self._config.max_body_bytes
        if (request.content_length or 0) > limit:
            return _refuse(413, f"the activity is larger than {limit} bytes")
        body = await request.content.read(limit + 1)
        if len(body) > limit:
            return _refuse(413, f"the activity is larger than {limit} bytes")
        try:
            activity = json.loads(body)
        except ValueError:
            return _refuse(400, "the body is not JSON")
        if not isinstance(activity, dict):
            return _refuse(400, "the body is not a JSON object")
        activity_id, actor_id = activity.get("id"), activity.get("actor")
        if isinstance(actor_id, dict):
            actor_id = actor_id.get("id")
        if not isinstance(activity_id, str) or not isinstance(actor_id, str):
            return _refuse(400, "the activity has no id or actor")
        if host_of(actor_id) != host or host_of(activity_id) != host:
            return _refuse(401, "the signing key belongs to another server than the activity")
        try:
            target = urls.base + request.rel_url.raw_path_qs  # as the sender addressed it
            await self._verified(
                request,
                body,
                key_id,
                actor_id,
                self._signer(community_id),
                target if message else "",
            )
        except SignatureRejected as exc:
            log.info("federation.inbox_refused", key=key_id[:200], reason=str(exc))
            return _refuse(401, str(exc))
        except RemoteRefused as exc:
            return _refuse(403, str(exc))
        except RemoteFailed as exc:
            return _refuse(401, f"the signing key could not be fetched: {exc}")
        if message:
            self._schemes.supports(origin_of(key_id), "it signed a request to us with RFC 9421")
        fresh = await self._store.receive(
            activity_id, actor_id, community_id, activity, self._clock.now()
        )
        if fresh:
            self._woken(str(activity.get("type", ""))[:40])
            return web.json_response({"accepted": activity_id}, status=202)
        seen = web.json_response({"accepted": activity_id}, status=202)
        seen.headers["X-Hearth-Seen"] = "1"  # an activity seen before: nothing done again
        return seen

    async def _verified(
        self,
        request: web.Request,
        body: bytes,
        key_id: str,
        actor_id: str,
        sign: SignGet,
        target: str,
    ) -> None:
        """Verified by the actor's key (`target`: the RFC 9421 target URI, else draft-cavage)."""
        window = timedelta(seconds=self._config.signature_window_seconds)
        headers = {k: v for k, v in request.headers.items()}
        lines = list(request.headers.items())
        for fresh in (False, True):  # a failure against a cached key: fetch it again
            remote = await self._actors.by_key(key_id, fresh=fresh, sign=sign)
            if remote.id != actor_id:
                raise SignatureRejected("the signing key is not the actor's")
            try:
                if target:
                    rfc9421.verify(
                        remote.public_pem,
                        request.method,
                        target,
                        lines,
                        body,
                        self._clock.now(),
                        window,
                    )
                    return
                verify(
                    remote.public_pem,
                    request.method,
                    request.path,
                    headers,
                    body,
                    self._clock.now(),
                    window,
                )
                return
            except SignatureRejected:
                if fresh:
                    raise


Handler = Callable[[InboxItem, documents.Urls], Awaitable[str]]
# links across deployments (bot/federation/link_inbox.py): an outcome, or None to go on
LinkHandler = Callable[[InboxItem, documents.Urls], Awaitable[str | None]]


class InboxHandler:
    """What a verified activity does, once: Follow → follower + Accept; Undo(Follow)."""

    def __init__(
        self,
        store: FederationStore,
        actors: RemoteActors,
        clock: Clock,
        urls_for: Callable[[int], Awaitable[documents.Urls | None]],
        signer: SignerFor,
        links: LinkHandler | None = None,
    ) -> None:
        self._store = store
        self._actors = actors
        self._clock = clock
        self._urls_for = urls_for
        self._signer = signer
        self._links = links

    async def handle_pending(self) -> int:
        handled = 0
        while items := await self._store.unhandled():
            for item in items:
                outcome = await self._handle(item)
                await self._store.handled(item.id, outcome, self._clock.now())
                handled += 1
        return handled

    async def _handle(self, item: InboxItem) -> str:
        urls = await self._urls_for(item.community_id)
        if urls is None:
            return "ignored: the community no longer federates"
        kind = item.payload.get("type")
        try:
            if self._links is not None and (outcome := await self._links(item, urls)):
                return outcome
            if kind == "Follow":
                return await self._follow(item, urls)
            if kind == "Undo":
                return await self._undo(item, urls)
        except (RemoteFailed, RemoteRefused) as exc:
            return f"failed: {exc}"
        return f"ignored: {str(kind)[:40]}"

    async def _follow(self, item: InboxItem, urls: documents.Urls) -> str:
        target = _object_id(item.payload)
        if target != urls.actor:
            return "ignored: a Follow of someone else"
        remote = await self._actors.by_id(item.actor, self._signer(item.community_id))
        if not remote.inbox:
            return "failed: the follower has no inbox"
        accept = documents.accept(urls, item.payload, digest(item.activity_id)[:24])
        delivery = Delivery(f"accept:{item.activity_id}", item.community_id, remote.inbox, accept)
        await self._store.follow(
            item.community_id,
            Follower(item.actor, remote.inbox),
            item.activity_id,
            delivery,
            self._clock.now(),
        )
        log.info("federation.followed", community=urls.slug, follower=item.actor[:200])
        return "followed"

    async def _undo(self, item: InboxItem, urls: documents.Urls) -> str:
        undone = item.payload.get("object")
        if not isinstance(undone, dict) or undone.get("type") != "Follow":
            return "ignored: an Undo of something else"
        if _text(undone.get("actor")) != item.actor:
            return "ignored: an Undo of another actor's Follow"
        removed = await self._store.unfollow(item.community_id, item.actor)
        return "unfollowed" if removed else "ignored: was not following"


def _text(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) else ""


def _object_id(activity: dict[str, Any]) -> str:
    return _text(activity.get("object"))
