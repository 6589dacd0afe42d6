"""Federation wired together: the actor routes on the [web] server and one background
loop that handles the inbox, publishes changes and delivers, woken by new work.

Routes: /.well-known/webfinger, /.well-known/nodeinfo, /nodeinfo/2.0, and under
/ap/c/<community>: the Group actor, inbox (POST), outbox, followers and each public
insight as an Article. Only a community with public insights is found at all.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import timedelta
from importlib.metadata import PackageNotFoundError, version
from typing import Any
from urllib.parse import unquote, urlsplit

import structlog
from aiohttp import web

from bot.config_features import RelayConfig
from bot.config_federation import FederationConfig
from bot.federation import documents
from bot.federation.actors import RemoteActors, SignGet
from bot.federation.delivery import Deliverer
from bot.federation.inbox import InboxHandler, InboxReceiver
from bot.federation.keys import Keys
from bot.federation.link_inbox import LinkInbox
from bot.federation.links import INVITE_RESOURCE, LinkActivities
from bot.federation.publisher import Publisher
from bot.federation.relay_port import FederationPort
from bot.federation.remote import Remote
from bot.federation.schemes import Schemes
from bot.federation.share_inbox import ShareInbox
from bot.federation.share_publisher import SharePublisher
from bot.federation.signatures import sign
from bot.ops.metrics import Metrics
from bot.ops.server import OpsServer
from bot.relay.service import Relays
from knowledge.clock import Clock
from knowledge.db import Database
from knowledge.directory import Directory
from knowledge.errors import UserError
from knowledge.federation import FederationStore
from knowledge.federation_keys import KeyStore
from knowledge.federation_links import FederatedLinks
from knowledge.federation_queue import Delivery, DeliveryQueue
from knowledge.federation_shared_in import SharedInbound
from knowledge.federation_sharing import FederatedSharing
from knowledge.garden import GardenStore
from knowledge.garden_rows import PublicCommunity
from knowledge.insights import InsightStore

log = structlog.get_logger(__name__)

ACTIVITY = "application/activity+json; charset=utf-8"
PAGE = 20


def _hearth_version() -> str:
    try:
        return version("hearth")
    except PackageNotFoundError:
        return "0"


class Federation:
    def __init__(
        self,
        config: FederationConfig,
        relay: RelayConfig,
        database: Database,
        garden: GardenStore,
        directory: Directory,
        clock: Clock,
        base_url: Callable[[], str],
        descriptions: dict[str, str],
        metrics: Metrics,
        relays: Relays,
    ) -> None:
        self.config = config
        self.store = FederationStore(database)
        self._garden = garden
        self._directory = directory
        self._clock = clock
        self._base_url = base_url
        self._descriptions = descriptions
        self.remote = Remote(config)
        self.schemes = Schemes()
        actors = RemoteActors(self.remote, self.schemes)
        overlap = timedelta(hours=config.key_overlap_hours)
        self.keys = Keys(KeyStore(database), config.key_passphrase, clock, overlap)
        self.wake = asyncio.Event()
        # an activity just written to the inbox log is handled by its own task at once,
        # not after the loop's round of publishing (the row stays the truth: a crash
        # before handling leaves it for the next round or the next start)
        self.inbox_wake = asyncio.Event()
        self._handling = asyncio.Lock()
        self.receiver = InboxReceiver(
            config,
            self.store,
            actors,
            clock,
            self._arrived,
            self.get_signer,
            metrics,
            self.schemes,
        )
        self.linked = FederatedLinks(database)
        self.links = LinkActivities(
            config,
            self.remote,
            self.linked,
            directory,
            relays,
            clock,
            self.urls,
            self.get_signer,
            self._queue,
            received := SharedInbound(database),
        )
        sharing = FederatedSharing(database)
        share_inbox = ShareInbox(received, directory, clock)
        inbox = LinkInbox(self.links, self.linked, relays, directory, clock, share_inbox)
        self.handler = InboxHandler(
            self.store, actors, clock, self.urls_of, self.get_signer, inbox.handle
        )
        # relays to linked communities of other deployments go through the relay outbox
        relays.attach(FederationPort(self.linked, self.keys, self.remote, self.urls, clock))
        self.publisher = Publisher(self.store, garden, clock, self.urls_of)
        # shared knowledge to linked communities of other deployments
        self.sharer = SharePublisher(sharing, InsightStore(database), clock, self.urls_of)
        self.deliverer = Deliverer(
            DeliveryQueue(database),
            self.keys,
            self.remote,
            clock,
            relay,
            metrics,
            self.store,
            self.schemes,
        )
        self._task: asyncio.Task[None] | None = None
        self._inbox_task: asyncio.Task[None] | None = None
        self.background = True  # False (tests): nothing runs by itself; call `run_once`

    # -- addresses ------------------------------------------------------------------------

    def urls(self, slug: str) -> documents.Urls:
        return documents.Urls(self._base_url(), slug)

    async def urls_of(self, community_id: int) -> documents.Urls | None:
        community = await self._directory.community_by_id(community_id)
        return None if community is None else self.urls(community.slug)

    async def _queue(self, deliveries: list[Delivery]) -> None:
        await self.deliverer.queue.add(deliveries, self._clock.now())
        self.wake.set()

    async def _served(self, slug: str) -> PublicCommunity | None:
        """A community with an actor here: it publishes, or links across deployments."""
        public = await self._garden.community(slug)
        if public is not None or not slug:
            return public
        community = await self._directory.community_by_slug(slug)
        if community is None or not await self.linked.federates(community.id):
            return None
        return PublicCommunity(community.id, community.slug, community.name, 0, (), None)

    def _arrived(self, kind: str) -> None:
        """A Follow or Undo waits for the loop's round, which publishes first (a follower
        hears of what changed after its Follow); anything else is handled at once."""
        if kind in ("Follow", "Undo"):
            self.wake.set()
        else:
            self.inbox_wake.set()

    def get_signer(self, community_id: int) -> SignGet:
        """Signs GETs as the community (remote servers in authorized-fetch mode want it)."""

        async def signed(url: str) -> dict[str, str]:
            urls = await self.urls_of(community_id)
            if urls is None:
                return {}
            private = await self.keys.private_key(community_id)
            return sign(private, urls.key_id, "GET", url, self._clock.now())

        return signed

    # -- serving --------------------------------------------------------------------------

    def mount(self, ops: OpsServer) -> None:
        ops.route("GET", "/.well-known/webfinger", self._webfinger)
        ops.route("GET", "/.well-known/nodeinfo", self._nodeinfo_links)
        ops.route("GET", "/nodeinfo/2.0", self._nodeinfo)
        ops.prefix("/ap/c/", self._actor_routes)

    async def _webfinger(self, request: web.Request) -> web.StreamResponse:
        resource = request.query.get("resource", "")
        base = self._base_url()
        host = urlsplit(base).netloc
        slug = ""
        if resource.startswith("acct:"):
            name, _, at = resource[5:].rpartition("@")
            slug = name if at.lower() == host.lower() else ""
        elif resource.startswith(f"{base}/ap/c/"):
            slug = unquote(resource[len(f"{base}/ap/c/") :])
        elif resource.startswith(INVITE_RESOURCE):  # `/constellation accept <code>@<host>`
            inviting = await self.linked.inviting(
                resource[len(INVITE_RESOURCE) :][:64], self._clock.now()
            )
            found = await self._directory.community_by_id(inviting) if inviting else None
            slug = found.slug if found else ""
        community = await self._served(slug)
        if community is None:
            return web.json_response({"error": "no such account here"}, status=404)
        return web.json_response(
            documents.webfinger(self.urls(community.slug)), content_type=documents.JRD
        )

    async def _nodeinfo_links(self, _request: web.Request) -> web.StreamResponse:
        return web.json_response(documents.nodeinfo_links(self._base_url()))

    async def _nodeinfo(self, _request: web.Request) -> web.StreamResponse:
        publishing = await self._garden.communities()
        posts = sum(c.public_insights for c in publishing)
        body = documents.nodeinfo(_hearth_version(), len(publishing), posts)
        return web.json_response(
            body,
            content_type="application/json",
            headers={"Content-Profile": "http://nodeinfo.diaspora.software/ns/schema/2.0#"},
        )

    async def _actor_routes(self, request: web.Request) -> web.StreamResponse:
        parts = [unquote(p) for p in request.rel_url.raw_path.split("/")[3:]]
        community = await self._served(parts[0]) if parts else None
        if community is None:
            return web.json_response({"error": "no such actor"}, status=404)
        urls = self.urls(community.slug)
        rest = parts[1:]
        if rest == ["inbox"]:
            if request.method != "POST":
                return web.json_response({"error": "POST activities here"}, status=405)
            return await self.receiver.receive(request, community.id, urls)
        if request.method not in ("GET", "HEAD"):
            return web.json_response({"error": "method not allowed"}, status=405)
        if not rest:
            return _activity(await self._actor(community, urls))
        if rest == ["outbox"]:
            return _activity(await self._outbox(community, urls))
        if rest == ["followers"]:  # how many, never who
            followers = await self.store.followers(community.id)
            return _activity(documents.collection(urls.followers, len(followers)))
        if len(rest) == 2 and rest[0] == "i" and rest[1].isdigit() and len(rest[1]) < 10:
            cards = await self._garden.cards([int(rest[1])])
            if cards and cards[0].community_id == community.id:
                card = cards[0]
                text = documents.ArticleText(
                    card.id, card.title, card.body, card.tags, card.created_at, card.updated_at
                )
                article = documents.article(urls, text)
                return _activity({"@context": documents.CONTEXT, **article})
        return web.json_response({"error": "not found"}, status=404)

    async def _actor(self, community: PublicCommunity, urls: documents.Urls) -> dict[str, Any]:
        summary = self._descriptions.get(community.slug, "")
        return documents.actor(
            urls, community.name, summary, await self.keys.public_pem(community.id)
        )

    async def _outbox(self, community: PublicCommunity, urls: documents.Urls) -> dict[str, Any]:
        total = await self._garden.count(community.id)
        recent = await self._garden.recent(community.id, PAGE)
        items = []
        for card in recent:
            text = documents.ArticleText(
                card.id, card.title, card.body, card.tags, card.created_at, card.updated_at
            )
            items.append(documents.create(urls, documents.article(urls, text), card.created_at))
        return documents.collection(urls.outbox, total, items)

    async def rotate_key(self, slug: str) -> int:
        """A new signing key for the community, announced to its followers as an Update
        of the actor (signed with the new key, or during the overlap by the previous one
        where a follower still holds it); how many inboxes will be told."""
        community = await self._directory.community_by_slug(slug)
        if community is None:
            raise UserError(f"no community with slug {slug!r}")
        if not self._base_url():
            raise UserError("set [web] public_url: followers must be told the actor's address")
        urls = self.urls(community.slug)
        public_pem = await self.keys.rotate(community.id)
        summary = self._descriptions.get(community.slug, "")
        actor = documents.actor(urls, community.name, summary, public_pem)
        now = self._clock.now()
        update = documents.update_actor(urls, actor, now)
        inboxes = sorted({f.inbox for f in await self.store.followers(community.id)})
        deliveries = [Delivery(f"{update['id']}:{i}", community.id, i, update) for i in inboxes]
        await self.deliverer.queue.add(deliveries, now)
        self.wake.set()
        return len(inboxes)

    # -- background work ------------------------------------------------------------------

    async def run_once(self) -> int:
        """Publish changes, handle the inbox, deliver what is due; how much was done.

        Publishing first: a follower hears of what changed after its Follow was handled.
        While running, other arrivals (a relayed Note, an Accept) are handled at once by
        the inbox task, which does not publish."""
        done = await self.publisher.publish_changes()
        done += await self.sharer.publish_changes()
        if handled := await self.handle_inbox():
            # e.g. the other steward stopped sharing: what we shared is withdrawn now
            done += handled + await self.sharer.publish_changes()
        while await self._due_now() and (delivered := await self.deliverer.deliver_due()):
            done += delivered
        return done

    async def handle_inbox(self) -> int:
        """One handler at a time (the loop's round and the inbox task), so no activity
        is handled twice."""
        async with self._handling:
            return await self.handler.handle_pending()

    async def _due_now(self) -> bool:
        """A read first: claiming is a write, which on SQLite holds every other writer
        (the inbox's, the relays') back even when nothing is due."""
        due = await self.deliverer.queue.next_due()
        return due is not None and due <= self._clock.now()

    def start(self) -> None:
        if not self.background:
            return
        self._task = asyncio.create_task(self._run(), name="federation")
        self._inbox_task = asyncio.create_task(self._inbox(), name="federation-inbox")

    async def stop(self) -> None:
        for task in (self._task, self._inbox_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._inbox_task = None
        await self.remote.close()

    async def _inbox(self) -> None:
        while True:
            await self.inbox_wake.wait()
            self.inbox_wake.clear()
            try:
                if await self.handle_inbox() and await self._due_now():
                    self.wake.set()  # what handling queued (an Accept, a follow back)
            except Exception:  # the next arrival or the loop's round tries again
                log.exception("federation.inbox_round_failed")

    async def _run(self) -> None:
        while True:
            self.wake.clear()
            try:
                await self.run_once()
            except Exception:  # the database or a peer hiccuped: keep going
                log.exception("federation.round_failed")
            wait = self.config.poll_seconds
            due = await self._next_due()
            # what is due already but was not delivered waits behind a parked lane: the
            # poll or a wake brings it, never a busy loop
            if due is not None and due > 0:
                wait = min(wait, due)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=wait)

    async def _next_due(self) -> float | None:
        with contextlib.suppress(Exception):
            due = await self.deliverer.queue.next_due()
            if due is not None:
                return (due - self._clock.now()).total_seconds()
        return None


def _activity(document: dict[str, Any]) -> web.Response:
    return web.json_response(document, content_type="application/activity+json")
