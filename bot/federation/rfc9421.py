"""RFC 9421 HTTP Message Signatures (with RFC 9530 Content-Digest) through the
`http-message-signatures` library: it builds the signature base, signs, verifies and
checks the digest; Hearth decides what must be covered and how old a signature may be.

The policy is the draft-cavage one translated: the method and the target (`@target-uri`,
or `@authority` with `@path`/`@request-target`) covered, for a POST also `content-digest`
matching the body, and `created` within the window of the injected Clock (the library's
own check reads the wall clock, so it is replaced here). One signature per request, as
Mastodon sends; RSA keys, as ActivityPub actors publish them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import http_sf
from cryptography.hazmat.primitives.asymmetric import rsa
from http_message_signatures import (
    HTTPMessageSigner,
    HTTPMessageVerifier,
    HTTPSignatureKeyResolver,
    algorithms,
)
from http_message_signatures.exceptions import HTTPMessageSignaturesException

from bot.federation.signatures import ACTIVITY_JSON, SignatureRejected, public_key

# What Hearth covers: Mastodon (4.4+) requires @method and @target-uri and a signed
# Content-Digest; content-type says how to read the body.
COVERED_POST = ("@method", "@target-uri", "content-type")
COVERED_GET = ("@method", "@target-uri", "accept")
ALGORITHMS: dict[str, type[algorithms.HTTPSignatureAlgorithm]] = {
    "rsa-v1_5-sha256": algorithms.RSA_V1_5_SHA256,
    "rsa-pss-sha512": algorithms.RSA_PSS_SHA512,
}
LABEL = "sig1"


@dataclass(frozen=True)
class InputParams:
    """The one signature's parameters from `Signature-Input`."""

    key_id: str
    algorithm: str
    components: tuple[str, ...]


def parse_input(header: str) -> InputParams:
    """The `Signature-Input` header's one signature (keyid, alg, covered components)."""
    try:
        parsed: Any = http_sf.parse(header.encode("latin-1"), tltype="dictionary")
    except (ValueError, TypeError, UnicodeError):
        raise SignatureRejected("the Signature-Input header is malformed") from None
    if not isinstance(parsed, dict) or len(parsed) != 1:
        raise SignatureRejected("the Signature-Input header must hold exactly one signature")
    member, params = next(iter(parsed.values()))
    if not isinstance(member, list) or not isinstance(params, dict):
        raise SignatureRejected("the Signature-Input header is malformed")
    components = tuple(item[0] for item in member if isinstance(item[0], str))
    key_id, algorithm = params.get("keyid"), params.get("alg", "rsa-v1_5-sha256")
    if not isinstance(key_id, str) or not key_id:
        raise SignatureRejected("the Signature-Input header has no keyid")
    if not isinstance(algorithm, str):
        raise SignatureRejected("the Signature-Input header is malformed")
    return InputParams(key_id, algorithm, components)


@dataclass
class _Message:
    """The request as the library reads it: method, absolute URL, header lines."""

    method: str
    url: str
    headers: Any = field(default_factory=dict)


class _OneKey(HTTPSignatureKeyResolver):
    def __init__(self, key_id: str, public: Any = None, private: Any = None) -> None:
        self._key_id, self._public, self._private = key_id, public, private

    def resolve_public_key(self, key_id: str) -> Any:
        return self._public if key_id == self._key_id else None

    def resolve_private_key(self, key_id: str) -> Any:
        if key_id != self._key_id or self._private is None:
            raise KeyError(key_id)
        return self._private


class _ClockedVerifier(HTTPMessageVerifier):
    """The library's verifier with `created`/`expires` judged against Hearth's Clock."""

    def __init__(
        self, now: dt.datetime, window: dt.timedelta, **kwargs: Any
    ) -> None:  # pragma: no branch
        super().__init__(**kwargs)
        self._now, self._window = now, window

    def validate_created_and_expires(self, sig_input: Any, max_age: Any = None) -> None:
        created = sig_input.params.get("created")
        if type(created) is not int:
            raise SignatureRejected("the signature has no created time")
        sent = dt.datetime.fromtimestamp(created, tz=dt.UTC)
        if abs(self._now - sent) > self._window:
            raise SignatureRejected(
                "the signature's created time is outside the window (a replay?)"
            )
        expires = sig_input.params.get("expires")
        if type(expires) is int and dt.datetime.fromtimestamp(expires, tz=dt.UTC) < self._now:
            raise SignatureRejected("the signature has expired")


def sign(
    private_key: rsa.RSAPrivateKey,
    key_id: str,
    method: str,
    url: str,
    now: dt.datetime,
    body: bytes = b"",
) -> dict[str, str]:
    """Headers for an RFC 9421-signed request (Content-Digest, Signature-Input, Signature)."""
    post = method.upper() == "POST"
    headers: dict[str, str] = {"content-type" if post else "accept": ACTIVITY_JSON}
    message = _Message(method.upper(), url, headers)
    HTTPMessageSigner(
        signature_algorithm=algorithms.RSA_V1_5_SHA256,
        key_resolver=_OneKey(key_id, private=private_key),
    ).sign(
        message,
        key_id=key_id,
        created=now,
        label=LABEL,
        covered_component_ids=COVERED_POST if post else COVERED_GET,
        body=body if post else None,
    )
    # a Date too: some servers log or rate by it, and it costs nothing
    headers["date"] = now.astimezone(dt.UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
    return {k.lower(): v for k, v in headers.items()}


def required(method: str, components: tuple[str, ...]) -> set[str]:
    """Which of the policy's components the signature fails to cover."""
    covered = set(components)
    missing = {"@method"} - covered
    targets = "@target-uri" in covered or (
        "@authority" in covered and bool({"@path", "@request-target"} & covered)
    )
    if not targets:
        missing.add("@target-uri")
    if method.upper() == "POST" and "content-digest" not in covered:
        missing.add("content-digest")
    return missing


def verify(
    public_pem: str,
    method: str,
    url: str,
    headers: list[tuple[str, str]],
    body: bytes,
    now: dt.datetime,
    window: dt.timedelta,
) -> str:
    """The keyid when the request carries a valid RFC 9421 signature by `public_pem`.

    `url` is the target as the sender addressed it (the deployment's public URL)."""
    lines = {name.lower(): value for name, value in headers}
    params = parse_input(lines.get("signature-input", ""))
    algorithm = ALGORITHMS.get(params.algorithm)
    if algorithm is None:
        raise SignatureRejected(f"the signature algorithm {params.algorithm} is not supported")
    missing = required(method, params.components)
    if missing:
        raise SignatureRejected(f"the signature does not cover {', '.join(sorted(missing))}")
    key = public_key(public_pem)
    verifier = _ClockedVerifier(
        now,
        window,
        signature_algorithm=algorithm,
        key_resolver=_OneKey(params.key_id, public=key),
    )
    message = _Message(method.upper(), url, _Lines(headers))
    try:
        verifier.verify(message, max_age=None, body=body if method.upper() == "POST" else None)
    except SignatureRejected:
        raise
    except HTTPMessageSignaturesException as exc:
        raise SignatureRejected(f"the signature does not verify ({_sentence(exc)})") from None
    except Exception as exc:  # malformed input the library did not classify: not trusted
        raise SignatureRejected(f"the signature does not verify ({type(exc).__name__})") from None
    return params.key_id


class _Lines:
    """Header lines, in order, repeated names kept (what the library reads)."""

    def __init__(self, lines: list[tuple[str, str]]) -> None:
        self._lines = lines

    def items(self) -> list[tuple[str, str]]:
        return list(self._lines)

    def __iter__(self) -> Any:
        return iter(dict.fromkeys(name for name, _ in self._lines))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and any(n.lower() == name.lower() for n, _ in self._lines)


def _sentence(exc: Exception) -> str:
    text = str(exc).split("\n")[0][:160]
    return text or type(exc).__name__
