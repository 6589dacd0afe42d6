"""Every request Hearth makes to another server, behind one set of defences.

SSRF: the connector's resolver refuses private, loopback, link-local and other special
addresses (checked on the addresses actually connected to, so a DNS answer cannot swap
one in after a check), and plain http, unless `allow_loopback_for_tests`. A deployment
blocklist (a host and its subdomains), a size limit on every document read, a timeout,
and no redirects (a redirect could point anywhere).
"""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from bot.config_federation import FederationConfig

ACCEPT = 'application/activity+json, application/ld+json; profile="https://www.w3.org/ns/activitystreams"'


class RemoteRefused(Exception):
    """Hearth will not talk to that address (one sentence why)."""


class RemoteFailed(Exception):
    """The remote server answered badly or not at all; `status` when it answered."""

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


def is_blocked(host: str, blocked: list[str]) -> bool:
    host = host.lower().rstrip(".")
    return any(host == b or host.endswith("." + b) for b in blocked)


def public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


class GuardedResolver(AbstractResolver):
    """Resolves, then refuses any answer that is not a public address."""

    def __init__(self, allow_private: bool) -> None:
        self._inner = ThreadedResolver()
        self._allow_private = allow_private

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        answers = await self._inner.resolve(host, port, family)
        if not self._allow_private:
            for answer in answers:
                if not public_address(answer["host"]):
                    raise RemoteRefused(f"{host} resolves to a private or local address")
        return answers

    async def close(self) -> None:
        await self._inner.close()


class Remote:
    """One aiohttp session for fetches and deliveries, opened on first use."""

    def __init__(self, config: FederationConfig) -> None:
        self._config = config
        self._session: aiohttp.ClientSession | None = None

    def check(self, url: str) -> str:
        """The host of `url` if Hearth may contact it, else RemoteRefused."""
        try:
            parts = urlsplit(url)
        except ValueError:
            raise RemoteRefused("that is not a URL") from None
        host = (parts.hostname or "").lower()
        allowed = ("https", "http") if self._config.allow_loopback_for_tests else ("https",)
        if parts.scheme not in allowed or not host:
            raise RemoteRefused(f"only https addresses are fetched (got {url[:80]!r})")
        if is_blocked(host, self._config.blocked_hosts):
            raise RemoteRefused(f"{host} is blocked on this deployment")
        if not self._config.allow_loopback_for_tests:
            try:
                if not public_address(host):
                    raise RemoteRefused(f"{host} is a private or local address")
            except ValueError:
                pass  # a name: the resolver checks what it resolves to
        return host

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                resolver=GuardedResolver(self._config.allow_loopback_for_tests), limit=64
            )
            timeout = aiohttp.ClientTimeout(total=self._config.fetch_timeout_seconds)
            self._session = aiohttp.ClientSession(connector=connector, timeout=timeout)
        return self._session

    async def get_json(self, url: str, headers: Mapping[str, str] | None = None) -> dict[str, Any]:
        self.check(url)
        try:
            async with self._client().get(
                url, headers={"Accept": ACCEPT, **(headers or {})}, allow_redirects=False
            ) as response:
                body = await self._read(response)
                if response.status != 200:
                    raise RemoteFailed(f"{url} answered {response.status}", response.status)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RemoteFailed(f"cannot fetch {url}: {type(exc).__name__}") from None
        try:
            document = json.loads(body)
        except ValueError:
            raise RemoteFailed(f"{url} did not answer JSON") from None
        if not isinstance(document, dict):
            raise RemoteFailed(f"{url} did not answer a JSON object")
        return document

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        """POST; the status when it is 2xx, else RemoteFailed."""
        self.check(url)
        try:
            async with self._client().post(
                url, data=body, headers=dict(headers), allow_redirects=False
            ) as response:
                await self._read(response)
                if 200 <= response.status < 300:
                    return response.status
                retry = response.headers.get("Retry-After", "")
                raise RemoteFailed(
                    f"{url} answered {response.status}",
                    response.status,
                    float(retry) if retry.isdigit() else None,
                )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RemoteFailed(f"cannot reach {url}: {type(exc).__name__}") from None

    async def _read(self, response: aiohttp.ClientResponse) -> bytes:
        limit = self._config.max_body_bytes
        if (response.content_length or 0) > limit:
            raise RemoteFailed(f"the answer is larger than {limit} bytes")
        body = await response.content.read(limit + 1)
        if len(body) > limit:
            raise RemoteFailed(f"the answer is larger than {limit} bytes")
        return body

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
