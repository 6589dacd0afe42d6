"""Each community's RSA signing key: made once, stored encrypted, decrypted on demand.

The private key lives in the database as encrypted PKCS#8 (the passphrase comes from the
environment, `[federation] key_passphrase`), so every Hearth process of a deployment signs
as the community and a database dump alone cannot. All cryptography is the
`cryptography` package's; nothing here is hand-written.
"""

from __future__ import annotations

import asyncio
import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from knowledge.clock import Clock
from knowledge.federation import FederationStore, KeyPair

KEY_BITS = 2048  # what Mastodon makes for its actors
RECHECK_SECONDS = 60.0  # a rotation made by another process is picked up this fast


def new_pair(passphrase: str) -> KeyPair:
    private = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )
    private_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase.encode("utf-8")),
    ).decode("ascii")
    return KeyPair(public_pem, private_pem)


class Keys:
    """The communities' keys, made on first use and kept decrypted in memory."""

    def __init__(self, store: FederationStore, passphrase: str, clock: Clock) -> None:
        self._store = store
        self._passphrase = passphrase.encode("utf-8")
        self._clock = clock
        self._public: dict[int, str] = {}
        self._private: dict[int, rsa.RSAPrivateKey] = {}
        self._checked: dict[int, float] = {}
        self._lock = asyncio.Lock()

    async def public_pem(self, community_id: int) -> str:
        await self._current(community_id)
        return self._public[community_id]

    async def private_key(self, community_id: int) -> rsa.RSAPrivateKey:
        await self._current(community_id)
        return self._private[community_id]

    async def rotate(self, community_id: int) -> str:
        """A new pair replaces the old one; the new public key (PEM)."""
        made = await asyncio.to_thread(new_pair, self._passphrase.decode("utf-8"))
        await self._store.replace_key(community_id, made, self._clock.now())
        self._checked.pop(community_id, None)
        return await self.public_pem(community_id)

    async def _current(self, community_id: int) -> None:
        checked = self._checked.get(community_id)
        if checked is not None and time.monotonic() - checked < RECHECK_SECONDS:
            return
        async with self._lock:
            pair = await self._store.key(community_id)
            if pair is None:  # RSA generation takes ~0.1 s: off the event loop
                made = await asyncio.to_thread(new_pair, self._passphrase.decode("utf-8"))
                pair = await self._store.keep_key(community_id, made, self._clock.now())
            if self._public.get(community_id) != pair.public_pem:  # new, or rotated
                private = await asyncio.to_thread(
                    serialization.load_pem_private_key, pair.private_pem.encode(), self._passphrase
                )
                if not isinstance(private, rsa.RSAPrivateKey):
                    raise ValueError("the stored signing key is not RSA")
                self._public[community_id] = pair.public_pem
                self._private[community_id] = private
            self._checked[community_id] = time.monotonic()
