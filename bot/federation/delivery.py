"""Sends queued activities: signed POSTs, with the relay worker's failure rules.

2xx → delivered. 410 → the follower is gone: dropped, never retried. 429 → wait its
Retry-After (not a failure). Any other 4xx but 401 and 408 → parked at once (the remote
refuses; a person must look); 401 is retried, since a remote may still hold a key this
community has just rotated. Before any of that, two immediate second tries (bot/federation/
schemes.py, keys.py): an RFC 9421 signature refused with 401/400 is sent again with
draft-cavage (and that host keeps draft-cavage), and a 401 during a key rotation's overlap
is sent again signed by the previous key. 5xx, timeouts, refused connections → exponential backoff
with jitter (bot/retry.py), parked after `[relay] max_failures` once the item has waited
`[relay] remote_retry_hours` (a server down for a weekend is waited out).
A parked item holds its inbox's lane, so later activities to that inbox wait, in order.
"""

from __future__ import annotations

import asyncio
import json
import random
from datetime import datetime, timedelta

import structlog
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from bot.config_features import RelayConfig
from bot.federation import rfc9421
from bot.federation.keys import Keys
from bot.federation.remote import Remote, RemoteFailed, RemoteRefused
from bot.federation.schemes import CAVAGE, MESSAGE, Schemes, origin_of
from bot.federation.signatures import sign
from bot.ops.metrics import Metrics
from bot.retry import retry_delay
from knowledge.clock import Clock
from knowledge.federation import FederationStore
from knowledge.federation_queue import ClaimedDelivery, DeliveryQueue

log = structlog.get_logger(__name__)


class Deliverer:
    def __init__(
        self,
        queue: DeliveryQueue,
        keys: Keys,
        remote: Remote,
        clock: Clock,
        relay: RelayConfig,
        metrics: Metrics,
        store: FederationStore,
        schemes: Schemes,
        rng: random.Random | None = None,
    ) -> None:
        self.schemes = schemes
        self._metrics = metrics
        self._store = store
        self.queue = queue
        self._keys = keys
        self._remote = remote
        self._clock = clock
        self._relay = relay
        self._rng = rng or random.Random()

    async def deliver_due(self) -> int:
        items = await self.queue.claim(self._clock.now())
        if items:
            await asyncio.gather(*(self._deliver(item) for item in items))
        return len(items)

    async def _deliver(self, item: ClaimedDelivery) -> None:
        body = json.dumps(item.activity, separators=(",", ":")).encode("utf-8")
        try:
            await self._send(item, body)
        except RemoteRefused as exc:
            await self.queue.park(item.id, f"refused: {exc}")
            self._metrics.federation_deliveries.labels("parked").inc()
            log.warning("federation.parked", item=item.id, error=str(exc))
        except RemoteFailed as exc:
            await self._failed(item, exc)
        except Exception as exc:  # anything unexpected: back off like a transient failure
            await self._failed(item, RemoteFailed(repr(exc)))
        else:
            await self.queue.delivered(item.id, self._clock.now())
            self._metrics.federation_deliveries.labels("delivered").inc()

    async def _send(self, item: ClaimedDelivery, body: bytes) -> None:
        keys = await self._keys.signing_keys(item.community_id)
        host = origin_of(item.inbox)
        scheme = self.schemes.scheme(host)
        try:
            await self._post(item, body, keys[0], scheme)
            return
        except RemoteFailed as exc:
            failed = exc
        if scheme == MESSAGE and failed.status in (400, 401):
            reason = f"answered {failed.status} to an RFC 9421 signature"
            self.schemes.refused(host, reason)
            log.info("federation.signature_fallback", host=host, reason=reason)
            scheme = CAVAGE
            try:
                await self._post(item, body, keys[0], scheme)
                return
            except RemoteFailed as exc:
                failed = exc
        if failed.status == 401 and len(keys) > 1:  # it still holds the key before rotation
            log.info("federation.previous_key", host=host, item=item.id)
            await self._post(item, body, keys[1], scheme)
            return
        raise failed

    async def _post(
        self, item: ClaimedDelivery, body: bytes, private: RSAPrivateKey, scheme: str
    ) -> None:
        key_id = f"{item.activity.get('actor', '')}#main-key"
        signer = rfc9421.sign if scheme == MESSAGE else sign
        headers = signer(private, key_id, "POST", item.inbox, self._clock.now(), body)
        await self._remote.post(item.inbox, body, headers)

    async def _failed(self, item: ClaimedDelivery, exc: RemoteFailed) -> None:
        now = self._clock.now()
        status = exc.status
        outcome = "retry"
        if status == 410:  # the follower's server says it is gone for good
            await self.queue.gone(item.id, str(exc))
            await self._store.drop_inbox(item.community_id, item.inbox)
            outcome = "gone"
            log.info("federation.inbox_gone", item=item.id, inbox=item.inbox[:200])
        elif status == 429:
            wait = exc.retry_after if exc.retry_after is not None else 60.0
            at = now + timedelta(seconds=min(wait, 3600.0))
            await self.queue.retry_at(item.id, at, str(exc), failure=False)  # waits, not fails
        elif (
            # 401 may be a remote's stale copy of a rotated key: retried, not parked
            status is not None and 400 <= status < 500 and status not in (401, 408)
        ) or self._gives_up(item, now):
            await self.queue.park(item.id, str(exc))
            outcome = "parked"
            log.warning("federation.parked", item=item.id, error=str(exc))
        else:
            delay = retry_delay(
                item.failures,
                timedelta(seconds=self._relay.backoff_seconds),
                timedelta(seconds=self._relay.max_backoff_seconds),
                self._rng,
            )
            await self.queue.retry_at(item.id, now + delay, str(exc))
            log.info("federation.retry", item=item.id, failures=item.failures + 1, error=str(exc))
        self._metrics.federation_deliveries.labels(outcome).inc()

    def _gives_up(self, item: ClaimedDelivery, now: datetime) -> bool:
        if item.failures + 1 < self._relay.max_failures:
            return False
        if item.queued_at is None:
            return True
        return now - item.queued_at >= timedelta(hours=self._relay.remote_retry_hours)
