"""HTTP Signatures per request: Hearth's draft-cavage (apsig) and RFC 9421
(http-message-signatures) signing and verifying one 2 KB activity, against the floor of
the bare RSA-2048 operation (`cryptography`) measured in the same run.

    PYTHONPATH=. python bench/signatures.py [--rounds 300]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from bench.measure import machine_info, percentile
from bot.federation import rfc9421, signatures

URL = "https://garden.example.org/ap/c/guild/inbox"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=5)


def median_ms(rounds: int, run: Callable[[], object]) -> float:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        run()
        samples.append((time.perf_counter() - started) * 1000)
    return percentile(samples, 50)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=300)
    rounds = parser.parse_args().rounds
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    body = json.dumps({"type": "Create", "content": "x" * 2000}).encode()
    key_id = "https://r.example/users/ada#main-key"
    cavage = signatures.sign(key, key_id, "POST", URL, NOW, body)
    cavage["host"] = "garden.example.org"
    message = rfc9421.sign(key, key_id, "POST", URL, NOW, body)
    raw = key.sign(body, padding.PKCS1v15(), hashes.SHA256())
    figures = {
        "floor: RSA sign": median_ms(
            rounds, lambda: key.sign(body, padding.PKCS1v15(), hashes.SHA256())
        ),
        "floor: RSA verify": median_ms(
            rounds,
            lambda: key.public_key().verify(raw, body, padding.PKCS1v15(), hashes.SHA256()),
        ),
        "draft-cavage sign": median_ms(
            rounds, lambda: signatures.sign(key, key_id, "POST", URL, NOW, body)
        ),
        "RFC 9421 sign": median_ms(
            rounds, lambda: rfc9421.sign(key, key_id, "POST", URL, NOW, body)
        ),
        "draft-cavage verify": median_ms(
            rounds,
            lambda: signatures.verify(pem, "POST", "/ap/c/guild/inbox", cavage, body, NOW, WINDOW),
        ),
        "RFC 9421 verify": median_ms(
            rounds,
            lambda: rfc9421.verify(pem, "POST", URL, list(message.items()), body, NOW, WINDOW),
        ),
    }
    for name, about in machine_info().items():
        print(f"{name}: {about}")
    print(f"{rounds} rounds, median per request")
    for name, value in figures.items():
        floor = figures["floor: RSA sign" if "sign" in name else "floor: RSA verify"]
        print(f"{name:22} {value:7.3f} ms   x{value / floor:5.2f} of the floor")


if __name__ == "__main__":
    main()
