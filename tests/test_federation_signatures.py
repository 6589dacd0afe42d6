"""HTTP Message Signatures (RFC 9421) beside draft-cavage, and key rotation with an
overlap window, at the wire against the loopback ActivityPub peer
(tests/fakes/activitypub_peer.py signs with the libraries themselves, never with Hearth's
code; it can advertise RFC 9421, refuse it, or hold a stale copy of Hearth's key)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from http_message_signatures import HTTPMessageVerifier, MappingKeyResolver, algorithms
from http_message_signatures.exceptions import InvalidSignature
from hypothesis import given
from hypothesis import strategies as st

from bot.app import Hearth
from bot.config import Config
from bot.federation.rfc9421 import parse_input
from bot.federation.schemes import advertises_rfc9421, origin_of
from bot.federation.signatures import SignatureRejected, public_key
from knowledge.directory import Directory
from knowledge.federation_keys import KeyStore
from tests.fakes.activitypub_peer import Peer, Received, new_key
from tests.harness.console_harness import Step
from tests.harness.federation_scene import Scene, base, federation, get
from tests.test_federation import fed_config, publish, signed_by

__all__ = ["fed_config"]  # the fixture, shared with tests/test_federation.py

TARGET_PATH = ("@method", "@authority", "@path", "content-type")  # what bovine/apsig cover


class _Arrived:
    """A POST the peer received, as http-message-signatures reads a request."""

    def __init__(self, received: Received, url: str) -> None:
        self.method = "POST"
        self.url = url
        self.headers = received.headers


def rfc9421_signed_by(pem: str, received: Received, url: str) -> bool:
    """http-message-signatures' own verifier (not Hearth's code) on what the peer got:
    method, target URI and a Content-Digest matching the body covered."""
    verifier = HTTPMessageVerifier(
        signature_algorithm=algorithms.RSA_V1_5_SHA256,
        key_resolver=MappingKeyResolver(
            public_keys={key_id_of(received): public_key(pem)}, private_keys={}
        ),
    )
    try:
        verifier.verify(
            _Arrived(received, url),
            max_age=None,
            require_components=("@method", "@target-uri", "content-digest"),
            body=received.body,
        )
    except InvalidSignature:
        return False
    return True


def key_id_of(received: Received) -> str:
    return parse_input(received.header("signature-input")).key_id


async def test_rfc9421_follows_are_verified_and_forged_replayed_or_undigested_ones_refused(
    fed_config: Callable[[str], Config],
) -> None:
    """Inbound: a valid RFC 9421 signature is as good as a draft-cavage one; every way of
    getting it wrong is 401 and nothing is stored; the Accept goes back in RFC 9421, since
    the follower evidently speaks it."""
    scene = Scene()
    clock, peer, out, state = scene.clock, scene.peer, scene.out, scene.state

    async def attack(hearth: Hearth) -> None:
        await peer.start()
        inbox, target = base(hearth) + "/ap/c/guild/inbox", base(hearth) + "/ap/c/guild"
        now = clock.now()

        async def send(number: int, when: timedelta = timedelta(0), **how: Any) -> int:
            follow = peer.follow(target, number)
            return await peer.post(inbox, follow, now + when, rfc9421=True, **how)

        state["forged"] = await send(1, key=new_key())
        state["replayed"] = await send(2, when=-timedelta(minutes=30))
        state["future"] = await send(3, when=timedelta(minutes=30))
        evil = json.dumps(dict(peer.follow(target, 4), object=target + "x")).encode()
        state["wrong_digest"] = await send(4, body=evil)
        state["no_digest"] = await send(5, with_digest=False)
        state["no_target"] = await send(6, covered=("@method", "content-type"))
        await federation(hearth).run_once()
        state["refused_followers"] = (await get(hearth, "/ap/c/guild/followers"))[1]
        state["valid"] = await send(7)
        state["authority_path"] = await send(8, covered=TARGET_PATH)
        state["key"] = (await get(hearth, "/ap/c/guild"))[1]["publicKey"]["publicKeyPem"]
        await federation(hearth).run_once()
        await peer.wait_for(2)
        state["inbox"] = inbox
        state["verdict"] = federation(hearth).schemes.verdict(origin_of(peer.actor))

    await scene.run(
        fed_config(""),
        [":as cora", *publish(out, "Small pull requests get better reviews #review"), attack],
    )
    refused = ("forged", "replayed", "future", "wrong_digest", "no_digest", "no_target")
    assert {name: state[name] for name in refused} == dict.fromkeys(refused, 401)
    assert state["refused_followers"]["totalItems"] == 0, "nothing stored for a refused one"
    assert state["valid"] == 202 and state["authority_path"] == 202
    accepts = peer.activities("Accept")
    assert sorted(a["object"]["id"].rsplit("/", 1)[1] for a in accepts) == ["7", "8"]
    assert state["verdict"] is not None and "signed a request to us" in state["verdict"].reason
    for received in peer.received:
        assert received.header("signature-input"), "answered in the scheme it spoke"
        assert rfc9421_signed_by(state["key"], received, peer.actor + "/inbox")
        assert not rfc9421_signed_by(state["key"], received, peer.actor + "/elsewhere")


async def test_deliveries_use_rfc9421_where_advertised_and_fall_back_to_cavage_when_refused(
    fed_config: Callable[[str], Config],
) -> None:
    """Outbound: draft-cavage by default; RFC 9421 to a server whose actor advertises it
    (FEP-844e); a server that advertises it but answers 401 gets the same delivery again
    at once in draft-cavage, and draft-cavage from then on."""
    scene = Scene()
    clock, out, state = scene.clock, scene.out, scene.state
    modern = Peer(advertises_rfc9421=True)
    confused = Peer(advertises_rfc9421=True, refuses_rfc9421=True)
    plain = scene.peer

    async def follow(hearth: Hearth) -> None:
        state["key"] = (await get(hearth, "/ap/c/guild"))[1]["publicKey"]["publicKeyPem"]
        for peer in (modern, confused, plain):
            await peer.start()
            inbox = base(hearth) + "/ap/c/guild/inbox"
            await peer.post(inbox, peer.follow(base(hearth) + "/ap/c/guild"), clock.now())
        await federation(hearth).run_once()
        for peer in (modern, confused, plain):
            await peer.wait_for(1)

    async def deliver(hearth: Hearth) -> None:
        await federation(hearth).run_once()
        for peer in (modern, confused, plain):
            await peer.wait_for(2)
        schemes = federation(hearth).schemes
        state["verdicts"] = [schemes.verdict(origin_of(p.actor)) for p in (modern, confused)]
        state["metrics"] = await federation(hearth).deliverer.queue.counts()

    steps: list[Step] = [
        ":as cora",
        *publish(out, "Small pull requests get better reviews #review"),
        follow,
    ]
    steps += [*publish(out, "Review checklists catch mistakes"), deliver]
    try:
        await scene.run(fed_config(""), steps)
    finally:
        await modern.stop()
        await confused.stop()
    assert [r.activity["type"] for r in modern.received] == ["Accept", "Create"]
    assert all(rfc9421_signed_by(state["key"], r, modern.actor + "/inbox") for r in modern.received)
    assert [r.activity["type"] for r in confused.refused] == ["Accept"], "knocked once"
    assert [r.activity["type"] for r in confused.received] == ["Accept", "Create"]
    assert all(signed_by(state["key"], r) for r in confused.received), "draft-cavage after"
    assert not any(r.header("signature-input") for r in confused.received)
    assert all(signed_by(state["key"], r) for r in plain.received) and plain.refused == []
    assert not any(r.header("signature-input") for r in plain.received), "cavage by default"
    modern_verdict, confused_verdict = state["verdicts"]
    assert "advertises RFC 9421" in modern_verdict.reason
    assert confused_verdict.scheme == "draft-cavage" and "answered 401" in confused_verdict.reason
    assert state["metrics"] == {"delivered": 6}, "no delivery failed or waits"


async def test_after_a_rotation_the_previous_key_signs_for_servers_that_still_hold_it_for_the_window(
    fed_config: Callable[[str], Config],
) -> None:
    """A follower that cached the old key answers the new key's signature with 401: during
    `key_overlap_hours` the delivery goes again at once, signed by the previous key (a
    follower that read the Update moves to the new key); after the window the previous key
    is deleted and such a follower's deliveries wait and retry like any 401."""
    scene = Scene()
    clock, out, state = scene.clock, scene.out, scene.state
    reader = scene.peer
    stale = Peer(ignores_updates=True)

    async def follow(hearth: Hearth) -> None:
        state["old"] = (await get(hearth, "/ap/c/guild"))[1]["publicKey"]["publicKeyPem"]
        for peer in (reader, stale):
            await peer.start()
            inbox = base(hearth) + "/ap/c/guild/inbox"
            await peer.post(inbox, peer.follow(base(hearth) + "/ap/c/guild"), clock.now())
            peer.holds_key = state["old"]
        await federation(hearth).run_once()
        await reader.wait_for(1)
        await stale.wait_for(1)

    async def rotate(hearth: Hearth) -> None:
        state["told"] = await federation(hearth).rotate_key("guild")
        state["new"] = (await get(hearth, "/ap/c/guild"))[1]["publicKey"]["publicKeyPem"]
        await federation(hearth).run_once()
        await reader.wait_for(2)
        await stale.wait_for(2)

    async def within_window(hearth: Hearth) -> None:
        clock.advance(timedelta(hours=47))
        await federation(hearth).run_once()
        await reader.wait_for(3)
        await stale.wait_for(3)

    async def after_window(hearth: Hearth) -> None:
        clock.advance(timedelta(hours=2))
        await federation(hearth).run_once()
        await reader.wait_for(4)
        state["queue"] = await federation(hearth).deliverer.queue.counts()
        community = await Directory(hearth.database).community_by_slug("guild")
        assert community is not None
        state["stored"] = await KeyStore(hearth.database).keys(community.id)

    steps: list[Step] = [
        ":as cora",
        *publish(out, "First public lesson about reviews #review"),
        follow,
        rotate,
    ]
    steps += [*publish(out, "Second lesson on pairing"), within_window]
    steps += [*publish(out, "Third lesson on retros"), after_window]
    try:
        await scene.run(fed_config(""), steps)
    finally:
        await stale.stop()
    old, new = state["old"], state["new"]
    assert state["told"] == 2 and old != new
    assert [r.activity["type"] for r in reader.received] == ["Accept", "Update", "Create", "Create"]
    accept, update, *creates = reader.received
    assert signed_by(old, accept)
    assert signed_by(old, update), "the Update reached it although it still held the old key"
    assert all(signed_by(new, c) for c in creates), "then the new key, as it read the Update"
    assert [r.activity["type"] for r in reader.refused] == ["Update"]
    assert [r.activity["type"] for r in stale.received] == ["Accept", "Update", "Create"]
    assert all(signed_by(old, r) for r in stale.received), "within the window: previous key"
    assert [r.activity["type"] for r in stale.refused] == ["Update", "Create", "Create"]
    assert state["queue"].get("pending") == 1, "after the window it waits and retries"
    assert state["stored"].previous is None, "the previous private key is deleted"
    assert state["stored"].current.public_pem == new


@given(st.text(max_size=300))
def test_any_signature_input_header_is_parsed_or_refused_in_one_sentence(header: str) -> None:
    try:
        params = parse_input(header)
    except SignatureRejected as exc:
        assert str(exc).startswith("the Signature-Input header")
    else:
        assert params.key_id and isinstance(params.components, tuple)


@pytest.mark.parametrize(
    "header",
    [
        'sig1=("@method" "@target-uri");created=1;keyid="https://r.example/u#k"',
        'sig1=("@method");keyid="k";alg="rsa-v1_5-sha256", sig2=("@method");keyid="k"',
        'sig1=("@method");created=1',
    ],
)
def test_signature_inputs_are_read_for_their_one_signature(header: str) -> None:
    try:
        params = parse_input(header)
    except SignatureRejected as exc:
        assert "exactly one signature" in str(exc) or "no keyid" in str(exc)
    else:
        assert params.key_id == "https://r.example/u#k"
        assert params.components == ("@method", "@target-uri")


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=60),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.sampled_from(["generator", "implements", "href"]), inner)
        ),
        max_leaves=10,
    )
)
def test_any_actor_document_is_read_for_an_rfc9421_advertisement_without_failing(
    value: Any,
) -> None:
    document = value if isinstance(value, dict) else {"generator": value}
    assert advertises_rfc9421(document) in (True, False)
    rfc = {"href": "https://datatracker.ietf.org/doc/html/rfc9421", "name": "RFC-9421"}
    assert advertises_rfc9421({**document, "generator": {"implements": [rfc]}})
