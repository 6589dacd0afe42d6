"""Public insights of followed communities, told to their followers.

A reconciler rather than a hook in every command that can publish, unpublish or forget:
it compares what is public now with what was announced (knowledge/federation.py) and
queues a `Create(Article)` for each new one, an `Update(Article)` for each one edited
since it was told, and a `Delete` for each one that stopped
being public or was removed by /forget-me, in the same transaction that records it. Any
process may run it at any time; a crash between rounds repeats nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bot.federation import documents
from knowledge.clock import Clock
from knowledge.federation import FederationStore, Follower
from knowledge.federation_queue import Delivery
from knowledge.garden import GardenStore


class Publisher:
    def __init__(
        self,
        store: FederationStore,
        garden: GardenStore,
        clock: Clock,
        urls_for: Callable[[int], Awaitable[documents.Urls | None]],
    ) -> None:
        self._store = store
        self._garden = garden
        self._clock = clock
        self._urls_for = urls_for

    async def publish_changes(self) -> int:
        """Queue what changed since the last round; returns how many insights."""
        changed = 0
        # every publishing community, followed or not: what was public before a follower
        # came is recorded as told (to nobody), so a new follower is not sent the archive
        publishing = {c.id for c in await self._garden.publishing()}
        for community_id in sorted(publishing | set(await self._store.followed())):
            urls = await self._urls_for(community_id)
            if urls is None:  # the community was removed
                continue
            changes = await self._store.changes(community_id)
            followers = await self._store.followers(community_id)
            now = self._clock.now()
            for insight_id in changes.withdrawn:
                activity = documents.delete(urls, insight_id, now)
                key = f"delete:{community_id}:{insight_id}:{activity['id']}"
                await self._store.withdraw(
                    community_id, insight_id, _to(followers, key, community_id, activity), now
                )
                changed += 1
            edited = set(changes.edited)
            for card in await self._garden.cards(changes.new + changes.edited):
                text = documents.ArticleText(
                    card.id, card.title, card.body, card.tags, card.created_at, card.updated_at
                )
                article = documents.article(urls, text)
                if card.id in edited:
                    activity = documents.update(urls, article, card.updated_at)
                else:
                    activity = documents.create(urls, article, now)
                key = f"{activity['type']}:{community_id}:{card.id}:{activity['id']}"
                deliveries = _to(followers, key, community_id, activity)
                await self._store.announce(community_id, card.id, card.updated_at, deliveries, now)
                changed += 1
        return changed


def _to(
    followers: list[Follower], key: str, community_id: int, activity: dict[str, object]
) -> list[Delivery]:
    """One delivery per distinct inbox (followers on one server often share one)."""
    inboxes = sorted({f.inbox for f in followers})
    return [Delivery(f"{key}:{inbox}", community_id, inbox, dict(activity)) for inbox in inboxes]
