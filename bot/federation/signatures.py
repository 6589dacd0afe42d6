"""HTTP Signatures as Mastodon speaks them (draft-cavage-http-signatures-12, rsa-sha256),
through apsig: it builds and checks the signature (and makes the Digest); Hearth decides what
must be signed and how old a request may be (the Date window, against the injected
Clock, so tests and faketime runs move time instead of waiting for it) and compares the
Digest itself, since peers write its algorithm as `SHA-256` or `sha-256`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from functools import lru_cache
from urllib.parse import urlsplit

from apsig.draft.sign import Signer
from apsig.draft.verify import Verifier
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ACTIVITY_JSON = "application/activity+json"
SIGNED_POST = ["(request-target)", "host", "date", "digest", "content-type"]
SIGNED_GET = ["(request-target)", "host", "date", "accept"]
REQUIRED = {"(request-target)", "host", "date"}
_PARAM = re.compile(r'\s*([A-Za-z]+)\s*=\s*"([^"]*)"\s*(?:,|$)')
# apsig checks the Date against the wall clock; ours is checked first, against the Clock
NO_WALL_CLOCK_CHECK = 100 * 365 * 86_400


class SignatureRejected(Exception):
    """Why a request's signature cannot be trusted (one sentence)."""


@dataclass(frozen=True)
class SignatureParams:
    key_id: str
    algorithm: str
    headers: tuple[str, ...]


def parse_signature(header: str) -> SignatureParams:
    """The `Signature` header's parameters (keyId, algorithm, headers)."""
    params: dict[str, str] = {}
    position = 0
    while position < len(header):
        match = _PARAM.match(header, position)
        if match is None:
            raise SignatureRejected("the Signature header is malformed")
        params[match.group(1)] = match.group(2)
        position = match.end()
    if "keyId" not in params or "signature" not in params:
        raise SignatureRejected("the Signature header has no keyId or signature")
    names = tuple(params.get("headers", "date").lower().split())
    return SignatureParams(params["keyId"], params.get("algorithm", "rsa-sha256"), names)


def sign(
    private_key: rsa.RSAPrivateKey,
    key_id: str,
    method: str,
    url: str,
    now: datetime,
    body: bytes = b"",
) -> dict[str, str]:
    """The headers for a signed request (Host, Date, Digest, Content-Type/Accept, Signature)."""
    headers = {"date": format_datetime(now.astimezone(UTC), usegmt=True)}
    if method.upper() == "POST":
        headers["content-type"] = ACTIVITY_JSON
        signed = SIGNED_POST
    else:
        headers["accept"] = ACTIVITY_JSON
        signed = SIGNED_GET
    result = Signer(
        headers=headers,
        private_key=private_key,
        method=method.upper(),
        url=url,
        key_id=key_id,
        body=body,
        signed_headers=signed,
    ).sign()
    result.pop("Authorization", None)  # Mastodon reads the Signature header
    return {str(k).lower(): str(v) for k, v in result.items()}


@lru_cache(maxsize=1024)
def public_key(public_pem: str) -> rsa.RSAPublicKey:
    """Parsed once per key (parsing costs ~7x the RSA check itself)."""
    try:
        key = serialization.load_pem_public_key(public_pem.encode("utf-8"))
    except (ValueError, TypeError):
        raise SignatureRejected("the actor's public key is not a PEM key") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise SignatureRejected("the actor's public key is not an RSA key")
    return key


def verify(
    public_pem: str,
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes,
    now: datetime,
    window: timedelta,
) -> str:
    """The keyId when the request is signed by `public_pem`, else SignatureRejected.

    Required: (request-target), host and date signed; for a POST also digest, matching
    the body; Date within `window` of now."""
    lowered = {k.lower(): v for k, v in headers.items()}
    params = parse_signature(lowered.get("signature", ""))
    if params.algorithm.lower() not in ("rsa-sha256", "hs2019"):
        raise SignatureRejected(f"the signature algorithm {params.algorithm} is not supported")
    missing = REQUIRED - set(params.headers)
    if method.upper() == "POST" and "digest" not in params.headers:
        missing.add("digest")
    if missing:
        raise SignatureRejected(f"the signature does not cover {', '.join(sorted(missing))}")
    try:
        sent = parsedate_to_datetime(lowered.get("date", ""))
    except (TypeError, ValueError):
        raise SignatureRejected("the Date header is missing or malformed") from None
    if sent.tzinfo is None or abs(now - sent) > window:
        raise SignatureRejected("the Date header is outside the accepted window (a replay?)")
    if method.upper() == "POST" and not digest_matches(lowered.get("digest", ""), body):
        raise SignatureRejected("the Digest header does not match the body")
    # apsig's parser wants its own (hs2019 is rsa-sha256 for an RSA key)
    checked = dict(lowered)
    checked["signature"] = lowered["signature"].replace('"hs2019"', '"rsa-sha256"')
    try:
        key_id = Verifier(
            public_pem=public_key(public_pem),
            method=method.upper(),
            url=url,
            headers=checked,
            body=b"",  # the Digest was checked above (apsig's check is case-sensitive)
            clock_skew=NO_WALL_CLOCK_CHECK,
        ).verify(raise_on_fail=True)
    except SignatureRejected:
        raise
    except Exception as exc:  # apsig's errors and malformed input alike: not trusted
        raise SignatureRejected(f"the signature does not verify ({exc})") from None
    if key_id is None:
        raise SignatureRejected("the signature does not verify")
    return str(key_id)


def digest_matches(header: str, body: bytes) -> bool:
    """RFC 3230: `SHA-256=<base64>` among possibly several, the algorithm in any case."""
    expected = base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")
    for part in header.split(","):
        algorithm, _, value = part.strip().partition("=")
        if algorithm.lower() == "sha-256" and hmac.compare_digest(value.strip(), expected):
            return True
    return False


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()
