"""Shared knowledge told to linked communities on other deployments.

A reconciler like the public Publisher: per active link across deployments, first this
steward's sharing and pause (Add/Remove, when they changed), then this side's shared
insights (while both stewards share knowledge over the link and neither paused it) and
its adoptions of the other side's, compared with what that side was told
(knowledge/federation_sharing.py).
Each change is queued on the federation delivery queue (ordered per inbox, retried,
idempotent by key) in the transaction that records it; any process may run it any time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bot.federation import shared_documents as docs
from bot.federation.documents import Urls
from knowledge.clock import Clock
from knowledge.errors import NotFound
from knowledge.federation_queue import Delivery
from knowledge.federation_sharing import ANNOUNCE, ARTICLE, FederatedSharing, ShareLink
from knowledge.insights import InsightStore


class SharePublisher:
    def __init__(
        self,
        store: FederatedSharing,
        insights: InsightStore,
        clock: Clock,
        urls_for: Callable[[int], Awaitable[Urls | None]],
    ) -> None:
        self._store = store
        self._insights = insights
        self._clock = clock
        self._urls_for = urls_for

    async def publish_changes(self) -> int:
        changed = 0
        for link in await self._store.links():
            urls = await self._urls_for(link.local_id)
            if urls is not None:
                changed += await self._link(link, urls)
        return changed

    async def _link(self, link: ShareLink, urls: Urls) -> int:
        now = self._clock.now()
        changed = await self._consent(link, urls)
        changes = await self._store.changes(link)
        for told in changes.withdrawn:
            activity = docs.delete(
                urls, told.insight_id, link.remote_actor, link.link_id, told.generation
            )
            changed += await self._store.untell(
                link.link_id, told.insight_id, [self._delivery(link, activity)], now
            )
        edited = set(changes.edited)
        for insight_id in changes.new + changes.edited:
            try:
                view = await self._insights.get(link.local_id, insight_id)
            except NotFound:  # deleted meanwhile: the next round withdraws it
                continue
            article = docs.article(urls, view, link.remote_actor)
            if insight_id in edited:
                activity = docs.update(urls, article, link.link_id, view.updated_at)
            else:
                generation = await self._store.generation(link.link_id, insight_id)
                activity = docs.create(urls, article, link.link_id, generation)
            changed += await self._store.tell(
                link.link_id,
                (insight_id, ARTICLE, None),
                view.updated_at,
                [self._delivery(link, activity)],
                now,
            )
        for copy_id, object_id in changes.adopted:
            activity = docs.announce(urls, copy_id, object_id, link.remote_actor)
            changed += await self._store.tell(
                link.link_id,
                (copy_id, ANNOUNCE, object_id),
                None,
                [self._delivery(link, activity)],
                now,
            )
        for told in changes.unadopted:
            activity = docs.undo_announce(
                urls, told.insight_id, told.object_id or "", link.remote_actor
            )
            changed += await self._store.untell(
                link.link_id, told.insight_id, [self._delivery(link, activity)], now
            )
        return changed

    async def _consent(self, link: ShareLink, urls: Urls) -> int:
        """Tell the other side when this steward turned sharing or the pause on or off
        (before any insight the change lets out: deliveries to one inbox keep order)."""
        if (link.shares, link.paused) == link.told:
            return 0
        seq = link.consent_seq + 1
        activities = [
            docs.consent(urls, link.remote_actor, what, state, link.link_id, seq)
            for what, state, before in (
                (docs.SHARING, link.shares, link.told[0]),
                (docs.PAUSED, link.paused, link.told[1]),
            )
            if state != before
        ]
        deliveries = [self._delivery(link, activity) for activity in activities]
        return int(await self._store.tell_consent(link, deliveries, self._clock.now()))

    @staticmethod
    def _delivery(link: ShareLink, activity: dict[str, object]) -> Delivery:
        return Delivery(f"{activity['id']}:{link.inbox}", link.local_id, link.inbox, activity)
