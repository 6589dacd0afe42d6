"""Each community's RSA signing key: made once, stored encrypted, decrypted on demand.

The private key lives in the database as encrypted PKCS#8 (the passphrase comes from the
environment, `[federation] key_passphrase`), so every Hearth process of a deployment signs
as the community and a database dump alone cannot. All cryptography is the
`cryptography` package's; nothing here is hand-written.
"""

from __future__ import annotations

import asyncio

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from knowledge.clock import Clock
from knowledge.federation import FederationStore, KeyPair

KEY_BITS = 2048  # what Mastodon makes for its actors


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
        self._lock = asyncio.Lock()

    async def public_pem(self, community_id: int) -> str:
        if community_id not in self._public:
            await self._load(community_id)
        return self._public[community_id]

    async def private_key(self, community_id: int) -> rsa.RSAPrivateKey:
        if community_id not in self._private:
            await self._load(community_id)
        return self._private[community_id]

    async def _load(self, community_id: int) -> None:
        async with self._lock:
            pair = await self._store.key(community_id)
            if pair is None:  # RSA generation takes ~0.1 s: off the event loop
                made = await asyncio.to_thread(new_pair, self._passphrase.decode("utf-8"))
                pair = await self._store.keep_key(community_id, made, self._clock.now())
            private = await asyncio.to_thread(
                serialization.load_pem_private_key, pair.private_pem.encode(), self._passphrase
            )
            if not isinstance(private, rsa.RSAPrivateKey):
                raise ValueError("the stored signing key is not RSA")
            self._public[community_id] = pair.public_pem
            self._private[community_id] = private
