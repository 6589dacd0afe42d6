"""A remote ActivityPub server at the wire, on 127.0.0.1: one Person actor with its own
RSA key, an inbox that keeps every POST (headers and body) and can be told to fail, and
signed requests to Hearth. Signing uses apsig (the library); the independent check of
Hearth's signatures is the bovine peer (tests/fakes/bovine_peer.py)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from typing import Any

import aiohttp
from aiohttp import web
from apsig.draft.sign import Signer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), "")

    @property
    def activity(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


@dataclass
class Peer:
    key: rsa.RSAPrivateKey = field(default_factory=new_key)
    received: list[Received] = field(default_factory=list)
    fetches: list[Received] = field(default_factory=list)  # GETs of the actor
    fail_with: int | None = None  # answer this status instead of 202
    port: int = 0
    _runner: web.AppRunner | None = None
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def actor(self) -> str:
        return f"{self.base}/users/ada"

    @property
    def key_id(self) -> str:
        return f"{self.actor}#main-key"

    def document(self) -> dict[str, Any]:
        return {
            "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
            "id": self.actor,
            "type": "Person",
            "preferredUsername": "ada",
            "inbox": f"{self.actor}/inbox",
            "publicKey": {"id": self.key_id, "owner": self.actor, "publicKeyPem": pem(self.key)},
        }

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/users/ada", self._actor)
        app.router.add_post("/users/ada/inbox", self._inbox)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _actor(self, request: web.Request) -> web.Response:
        self.fetches.append(Received(request.path, dict(request.headers), b""))
        return web.json_response(self.document(), content_type="application/activity+json")

    async def _inbox(self, request: web.Request) -> web.Response:
        if self.fail_with is not None:
            return web.Response(status=self.fail_with)
        body = await request.read()
        async with self._arrived:
            self.received.append(Received(request.path, dict(request.headers), body))
            self._arrived.notify_all()
        return web.Response(status=202)

    async def wait_for(self, count: int) -> list[Received]:
        """Until `count` POSTs arrived (at most 10 s: a hang is a failure, not a wait)."""
        async with asyncio.timeout(10), self._arrived:
            await self._arrived.wait_for(lambda: len(self.received) >= count)
        return list(self.received)

    def activities(self, kind: str) -> list[dict[str, Any]]:
        return [r.activity for r in self.received if r.activity.get("type") == kind]

    # -- sending to Hearth --------------------------------------------------------------

    def follow(self, target: str, number: int = 1) -> dict[str, Any]:
        return {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": f"{self.actor}#follows/{number}",
            "type": "Follow",
            "actor": self.actor,
            "object": target,
        }

    def undo(self, follow: dict[str, Any]) -> dict[str, Any]:
        return {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": f"{follow['id']}/undo",
            "type": "Undo",
            "actor": self.actor,
            "object": {k: v for k, v in follow.items() if k != "@context"},
        }

    async def post(
        self,
        url: str,
        activity: dict[str, Any],
        now: datetime,
        *,
        key: rsa.RSAPrivateKey | None = None,
        body: bytes | None = None,
        key_id: str | None = None,
    ) -> int:
        """POST `activity` signed (by `key`, default the peer's own); `body` replaces the
        signed body after signing (tampering)."""
        signed_body = json.dumps(activity).encode()
        headers = Signer(
            headers={
                "date": format_datetime(now, usegmt=True),
                "content-type": "application/activity+json",
            },
            private_key=key or self.key,
            method="POST",
            url=url,
            key_id=key_id or self.key_id,
            body=signed_body,
            signed_headers=["(request-target)", "host", "date", "digest", "content-type"],
        ).sign()
        headers.pop("Authorization", None)
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, data=body if body is not None else signed_body, headers=headers) as r,
        ):
            return r.status
