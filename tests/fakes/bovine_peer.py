"""An independent ActivityPub peer for the federation test, built on bovine (a separate
implementation from the registry: its own HTTP Signatures code, its own verifier).

Runs under its own interpreter (bovine pins a `cryptography` older than Hearth's), so it
imports nothing from Hearth. On 127.0.0.1 it serves a Person actor and an inbox that
checks every POST with bovine's `SignatureChecker`, fetching the signer's key itself; it
keeps what arrived and whether bovine verified it. `POST /control/follow` makes it send a
Follow signed by bovine (`forge: true` signs with a key that is not the actor's).

Prints `READY <port>` once listening; stops on SIGTERM.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys

import aiohttp
from aiohttp import web
from bovine.clients.signed_http import legacy_digest_method
from bovine.clients.signed_http_methods import signed_post
from bovine.crypto import build_validate_http_signature_raw, generate_rsa_public_private_key
from bovine.crypto.types import CryptographicIdentifier, CryptographicSecret


async def main() -> None:
    public_pem, private_pem = generate_rsa_public_private_key()
    _, forged_pem = generate_rsa_public_private_key()
    received: list[dict[str, object]] = []
    arrived = asyncio.Condition()
    state: dict[str, str] = {}
    numbers = itertools.count(1)

    async def key_retriever(key_id: str) -> CryptographicIdentifier | None:
        async with (
            aiohttp.ClientSession() as session,
            session.get(key_id.split("#")[0], headers={"Accept": "application/activity+json"}) as r,
        ):
            document = await r.json(content_type=None)
        return CryptographicIdentifier.from_public_key(document["publicKey"])

    validate = build_validate_http_signature_raw(key_retriever)

    def actor_id() -> str:
        return f"{state['base']}/users/bo"

    async def actor(_request: web.Request) -> web.Response:
        document = {
            "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
            "id": actor_id(),
            "type": "Person",
            "preferredUsername": "bo",
            "inbox": f"{actor_id()}/inbox",
            "publicKey": {
                "id": f"{actor_id()}#main-key",
                "owner": actor_id(),
                "publicKeyPem": public_pem,
            },
        }
        return web.json_response(document, content_type="application/activity+json")

    async def inbox(request: web.Request) -> web.Response:
        body = await request.read()

        async def get_body() -> bytes:
            return body

        # header names are case-insensitive; bovine's checker reads them lowercased
        headers = {name.lower(): value for name, value in request.headers.items()}
        owner = await validate("post", str(request.url), headers, get_body)
        activity = json.loads(body)
        async with arrived:
            received.append({"activity": activity, "verified_owner": owner})
            arrived.notify_all()
        return web.Response(status=202 if owner else 401)

    async def listing(request: web.Request) -> web.Response:
        """What arrived, once at least `?count=` did (waits up to 15 s)."""
        count = int(request.query.get("count", "0"))
        async with asyncio.timeout(15), arrived:
            await arrived.wait_for(lambda: len(received) >= count)
        return web.json_response(received)

    async def follow(request: web.Request) -> web.Response:
        wanted = await request.json()
        number = next(numbers)
        activity = {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": f"{actor_id()}/follows/{number}-{wanted.get('forge', False)}",
            "type": "Follow",
            "actor": actor_id(),
            "object": wanted["target"],
        }
        pem = forged_pem if wanted.get("forge") else private_pem
        secret = CryptographicSecret.from_pem(f"{actor_id()}#main-key", pem)
        async with aiohttp.ClientSession() as session:
            response = await signed_post(
                session, secret, wanted["inbox"], json.dumps(activity), legacy_digest_method
            )
            return web.json_response({"status": response.status, "id": activity["id"]})

    app = web.Application()
    app.router.add_get("/users/bo", actor)
    app.router.add_post("/users/bo/inbox", inbox)
    app.router.add_get("/received", listing)
    app.router.add_post("/control/follow", follow)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    state["base"] = f"http://127.0.0.1:{port}"
    print(f"READY {port}", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(15, stop.set)
    await stop.wait()
    await runner.cleanup()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
