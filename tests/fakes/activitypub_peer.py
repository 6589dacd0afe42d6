"""A remote ActivityPub server at the wire, on 127.0.0.1: one Person actor with its own
RSA key, an inbox that keeps every POST (headers and body) and can be told to fail, and
signed requests to Hearth. Signing uses the libraries directly (apsig for draft-cavage,
http-message-signatures for RFC 9421), never Hearth's code; the independent check of
Hearth's signatures is the bovine peer (tests/fakes/bovine_peer.py).

It can play a server that takes RFC 9421 (`advertises_rfc9421`: its actor says so, FEP-844e)
or one that refuses it (`refuses_rfc9421`: 401 to any `Signature-Input`), and one that
cached a key of Hearth's (`holds_key`): then it checks each draft-cavage POST against that
key, answers 401 when it does not verify, and takes the new key from an actor Update
unless `ignores_updates`."""

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
from apsig.draft.verify import Verifier
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from http_message_signatures import HTTPMessageSigner, MappingKeyResolver, algorithms


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
    advertises_rfc9421: bool = False
    refuses_rfc9421: bool = False
    holds_key: str | None = None  # the PEM it believes Hearth's actor has
    ignores_updates: bool = False
    refused: list[Received] = field(default_factory=list)  # POSTs answered 401
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
        document: dict[str, Any] = {
            "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
            "id": self.actor,
            "type": "Person",
            "preferredUsername": "ada",
            "inbox": f"{self.actor}/inbox",
            "publicKey": {"id": self.key_id, "owner": self.actor, "publicKeyPem": pem(self.key)},
        }
        if self.advertises_rfc9421:
            rfc = {"href": "https://datatracker.ietf.org/doc/html/rfc9421", "name": "RFC-9421"}
            document["generator"] = {"type": "Application", "implements": [rfc]}
        return document

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
        arrived = Received(request.path, dict(request.headers), body)
        if not self._trusts(arrived):
            self.refused.append(arrived)
            return web.Response(status=401)
        async with self._arrived:
            self.received.append(arrived)
            self._arrived.notify_all()
        return web.Response(status=202)

    def _trusts(self, arrived: Received) -> bool:
        if arrived.header("signature-input"):
            return not self.refuses_rfc9421
        if self.holds_key is None:
            return True
        try:
            Verifier(
                self.holds_key,
                "POST",
                arrived.path,
                arrived.headers,
                arrived.body,
                clock_skew=10**10,
            ).verify(raise_on_fail=True)
        except Exception:
            return False
        activity = arrived.activity
        if activity.get("type") == "Update" and not self.ignores_updates:
            key = activity.get("object", {}).get("publicKey", {})
            self.holds_key = key.get("publicKeyPem", self.holds_key)
        return True

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
        rfc9421: bool = False,
        covered: tuple[str, ...] = ("@method", "@target-uri", "content-type"),
        with_digest: bool = True,
    ) -> int:
        """POST `activity` signed (by `key`, default the peer's own; draft-cavage, or RFC
        9421 covering `covered` and, `with_digest`, Content-Digest); `body` replaces the
        signed body after signing (tampering)."""
        signed_body = json.dumps(activity).encode()
        if rfc9421:
            headers = self.sign_rfc9421(
                url, signed_body, now, key or self.key, key_id or self.key_id, covered, with_digest
            )
            return await self._send(url, body if body is not None else signed_body, headers)
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
        return await self._send(url, body if body is not None else signed_body, headers)

    @staticmethod
    def sign_rfc9421(
        url: str,
        body: bytes,
        now: datetime,
        key: rsa.RSAPrivateKey,
        key_id: str,
        covered: tuple[str, ...],
        with_digest: bool,
    ) -> dict[str, str]:
        message = _Request("POST", url, {"Content-Type": "application/activity+json"})
        HTTPMessageSigner(
            signature_algorithm=algorithms.RSA_V1_5_SHA256,
            key_resolver=MappingKeyResolver(public_keys={}, private_keys={key_id: key}),
        ).sign(
            message,
            key_id=key_id,
            created=now,
            covered_component_ids=covered,
            body=body if with_digest else None,
        )
        return message.headers

    @staticmethod
    async def _send(url: str, body: bytes, headers: dict[str, str]) -> int:
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, data=body, headers=headers) as r,
        ):
            return r.status


@dataclass
class _Request:
    """A request as http-message-signatures reads it."""

    method: str
    url: str
    headers: dict[str, str]
