"""Constellation links across deployments: `/constellation accept <code>@<host>` and the
activities that make and end such a link.

The accepting side finds the inviting community by WebFinger (the resource is the code's
hash, never the code), fetches its actor (its key and inbox), and sends a signed Follow
carrying the code. The inviting side checks the code like a local acceptance; then both
stewards have consented: it answers Accept and follows back, the accepting side accepts
that Follow like any other, and relays flow once each side's Follow was accepted. A bad
code is answered with Reject; leaving is Undo(Follow) both ways, and each side then drops
what it received over the link.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, urlsplit

import structlog

from bot.config_federation import FederationConfig
from bot.federation import documents
from bot.federation.actors import SignGet, parse_actor
from bot.federation.remote import Remote, RemoteFailed, RemoteRefused
from bot.relay.service import Relays
from knowledge.clock import Clock
from knowledge.directory import Directory
from knowledge.errors import InvalidInput, UserError
from knowledge.federation import InboxItem
from knowledge.federation_links import FederatedLinks, RemotePeer
from knowledge.federation_queue import Delivery, digest
from knowledge.federation_shared_in import SharedInbound
from knowledge.links import code_hash
from knowledge.views import CommunityInfo

log = structlog.get_logger(__name__)

CODE = re.compile(r"^(HL-[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4})@([a-z0-9.-]+(?::[0-9]{1,5})?)$")
INVITE_RESOURCE = "hearth-invite:"  # WebFinger resource: hearth-invite:<sha256 of the code>


def parse_code(text: str) -> tuple[str, str] | None:
    """(code, host) of `HL-XXXX-XXXX-XXXX@host`, or None when it is not that form."""
    code, at, host = text.strip().replace(" ", "").rpartition("@")
    found = CODE.match(f"{code.upper()}{at}{host.lower()}")
    return (found.group(1), found.group(2)) if found else None


def _text(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) else ""


def follow(urls: documents.Urls, target: str, key: str, code: str | None) -> dict[str, Any]:
    activity: dict[str, Any] = {
        "@context": documents.AS,
        "id": f"{urls.actor}#follows/{key}",
        "type": "Follow",
        "actor": urls.actor,
        "object": target,
    }
    if code is not None:
        activity["hearthInvite"] = code  # the inviting steward's consent, proven
    return activity


def answer(kind: str, urls: documents.Urls, activity: dict[str, Any]) -> dict[str, Any]:
    """Accept or Reject of a received activity."""
    return {
        "@context": documents.AS,
        "id": f"{urls.actor}#{kind.lower()}s/{digest(_text(activity.get('id')))[:24]}",
        "type": kind,
        "actor": urls.actor,
        "object": {k: v for k, v in activity.items() if k not in ("@context", "hearthInvite")},
    }


class LinkActivities:
    def __init__(
        self,
        config: FederationConfig,
        remote: Remote,
        store: FederatedLinks,
        directory: Directory,
        relays: Relays,
        clock: Clock,
        urls: Callable[[str], documents.Urls],
        signer: Callable[[int], SignGet],
        queue: Callable[[list[Delivery]], Awaitable[None]],
        received: SharedInbound,
    ) -> None:
        self._received = received
        self._config = config
        self._remote = remote
        self.store = store
        self._directory = directory
        self._relays = relays
        self._clock = clock
        self._urls = urls
        self._signer = signer
        self._queue = queue

    def host(self, slug: str) -> str:
        return self._urls(slug).host

    # -- the accepting steward --------------------------------------------------------

    async def accept(
        self,
        community: CommunityInfo,
        member_id: int,
        channel: tuple[str, str, str],
        text: str,
    ) -> str:
        """Ask the inviting deployment to link; the reply to show (UserError otherwise)."""
        parsed = parse_code(text)
        if parsed is None:
            raise InvalidInput(
                "That is not an invitation code: it looks like HL-XXXX-XXXX-XXXX@host."
            )
        code, host = parsed
        if host == self._urls(community.slug).host:
            raise InvalidInput(
                "That code is from this deployment: accept it without the @host part."
            )
        peer = await self._discover(community, code, host)
        urls = self._urls(community.slug)
        key = digest(f"{peer.actor}|{self._clock.now().isoformat()}")[:24]
        activity = follow(urls, peer.actor, key, code)
        delivery = Delivery(f"follow:{activity['id']}", community.id, peer.inbox, activity)
        await self.store.request(
            (community.id, community.slug), member_id, channel, peer, delivery, self._clock.now()
        )
        await self._queue([])  # wakes the delivery loop
        return f"**{peer.name}** ({peer.slug})"

    async def _discover(self, community: CommunityInfo, code: str, host: str) -> RemotePeer:
        scheme = "http" if self._config.allow_loopback_for_tests else "https"
        resource = quote(INVITE_RESOURCE + code_hash(code), safe="")
        finger = f"{scheme}://{host}/.well-known/webfinger?resource={resource}"
        try:
            jrd = await self._remote.get_json(finger)
            links = jrd.get("links")
            href = next(
                (
                    _text(link.get("href"))
                    for link in (links if isinstance(links, list) else [])
                    if isinstance(link, dict) and link.get("rel") == "self"
                ),
                "",
            )
            if urlsplit(href).netloc.lower() != host:
                raise InvalidInput(f"{host} named an actor on another server: not linked.")
            return await self.fetch_peer(href, community.id)
        except RemoteRefused as exc:
            raise InvalidInput(f"Hearth will not contact {host}: {exc}.") from None
        except RemoteFailed as exc:
            if exc.status == 404:
                raise InvalidInput(
                    f"{host} does not know that invitation code: it may be mistyped, "
                    "expired or already used."
                ) from None
            raise InvalidInput(f"Cannot reach {host} right now ({exc}); try again later.") from None

    # -- the inviting side --------------------------------------------------------------

    async def followed_with_code(self, item: InboxItem, urls: documents.Urls) -> str:
        """A Follow carrying a code: link (both consented), or Reject in one sentence."""
        existing = await self.store.peer(urls.slug, item.actor)
        if existing is not None:  # handled before a crash: queued with the link already
            return "linked (seen before)"
        community = await self._directory.community_by_slug(urls.slug)
        assert community is not None
        peer = await self.fetch_peer(item.actor, community.id)  # RemoteFailed: not handled
        back = follow(urls, item.actor, digest(item.activity_id)[:24], None)
        accept = answer("Accept", urls, item.payload)
        deliveries = [
            Delivery(f"accept:{item.activity_id}", community.id, peer.inbox, accept),
            Delivery(f"follow:{back['id']}", community.id, peer.inbox, back),
        ]
        try:
            link_id = await self.store.invited(
                str(item.payload.get("hearthInvite", "")),
                (community.id, community.slug),
                peer,
                str(back["id"]),
                deliveries,
                self._clock.now(),
            )
        except UserError as exc:
            reject = answer("Reject", urls, item.payload)
            await self._queue(
                [Delivery(f"reject:{item.activity_id}", community.id, peer.inbox, reject)]
            )
            return f"refused: {exc}"
        await self._announce(link_id, community.id, f"🔗 **{peer.slug}** accepted the link.")
        log.info("federation.linked", community=community.slug, remote=peer.slug)
        return "linked"

    async def fetch_peer(self, actor_id: str, community_id: int) -> RemotePeer:
        """A remote community's actor, fetched signed as ours: its key, inbox and names
        (RemoteFailed when it is not a usable actor of its own host)."""
        document = await self._remote.get_json(actor_id, await self._signer(community_id)(actor_id))
        key = document.get("publicKey")
        actor = parse_actor(document, _text(key) if isinstance(key, dict) else actor_id)
        host = urlsplit(actor_id).netloc.lower()
        if actor.id != actor_id or not actor.inbox or urlsplit(actor.inbox).netloc.lower() != host:
            raise RemoteFailed(f"{host} answered with an actor that is not its own")
        slug = _text(document.get("preferredUsername")) or actor_id.rsplit("/", 1)[-1]
        name = _text(document.get("name")) or slug
        return RemotePeer(actor_id, actor.inbox, f"{slug}@{host}"[:64], name)

    # -- answers to this side's Follow -------------------------------------------------

    async def answered(self, item: InboxItem) -> str:
        kind = item.payload.get("type")
        follow_id = _text(item.payload.get("object"))
        now = self._clock.now()
        if kind == "Accept":
            link_id = await self.store.accepted(follow_id, item.actor, now)
            if link_id is None:
                return "ignored: an Accept of nothing pending"
            link = await self._relays.links.get(link_id)
            if link is not None:
                for side in link.sides:
                    other = link.other(side.community_id)
                    if side.platform != "activitypub" and other is not None:
                        await self._relays.announce(
                            side, f"🔗 Linked with **{other.name}** ({other.slug})."
                        )
            return "accepted"
        link_id = await self.store.refused(follow_id, item.actor, now)
        if link_id is None:
            return "ignored: a Reject of nothing pending"
        await self._announce(
            link_id,
            None,
            "🔗 The other deployment refused the link: ask its steward for a new code.",
        )
        return "refused"

    async def _announce(self, link_id: int, community_id: int | None, text: str) -> None:
        link = await self._relays.links.get(link_id)
        if link is None:
            return
        for side in link.sides:
            if side.platform != "activitypub" and community_id in (None, side.community_id):
                await self._relays.announce(side, text)

    # -- leaving ------------------------------------------------------------------------

    async def left(self, link_id: int) -> bool:
        """This side left: the other deployment is told (Undo of this side's Follow) and
        what it shared over the link goes here, as it goes there when the Undo arrives."""
        peer = await self.store.of_link(link_id)
        if peer is None:
            return False
        await self._received.left(peer)
        community = await self._directory.community_by_id(peer.local_community_id)
        if community is None:
            return False
        urls = self._urls(community.slug)
        undo = {
            "@context": documents.AS,
            "id": f"{urls.actor}#undo/{digest(str(link_id) + peer.remote_actor)[:24]}",
            "type": "Undo",
            "actor": urls.actor,
            "object": {"type": "Follow", "actor": urls.actor, "object": peer.remote_actor},
        }
        await self._queue([Delivery(f"undo:{undo['id']}", community.id, peer.inbox, undo)])
        return True
