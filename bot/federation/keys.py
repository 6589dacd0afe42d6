"""Each community's RSA signing key: made once, stored encrypted, decrypted on demand.

The private key lives in the database as encrypted PKCS#8 (the passphrase comes from the
environment, `[federation] key_passphrase`), so every Hearth process of a deployment signs
as the community and a database dump alone cannot. All cryptography is the
`cryptography` package's; nothing here is hand-written.

Rotation keeps the previous pair for `[federation] key_overlap_hours`: a remote server
that cached the old public key answers a signature by the new one with 401 until it
re-reads the actor (the Update announcing the new key, or its own refresh), and in that
window the delivery is signed again with the previous key instead of failing. The key id
stays `#main-key`: Mastodon reads one `publicKey` per actor and refetches it when a
signature fails, so a second published key id would not be consulted. After the window
the previous private key is deleted.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from knowledge.clock import Clock
from knowledge.federation_keys import KeyPair, KeyStore, StoredKeys

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

    def __init__(self, store: KeyStore, passphrase: str, clock: Clock, overlap: timedelta) -> None:
        self._store = store
        self._passphrase = passphrase.encode("utf-8")
        self._clock = clock
        self._overlap = overlap
        self._stored: dict[int, StoredKeys] = {}
        self._private: dict[str, rsa.RSAPrivateKey] = {}  # by public PEM
        self._checked: dict[int, float] = {}
        self._lock = asyncio.Lock()

    async def public_pem(self, community_id: int) -> str:
        return (await self._current(community_id)).current.public_pem

    async def private_key(self, community_id: int) -> rsa.RSAPrivateKey:
        return await self._decrypt((await self._current(community_id)).current)

    async def signing_keys(self, community_id: int) -> list[rsa.RSAPrivateKey]:
        """The current key, then the previous one while the rotation's overlap lasts."""
        stored = await self._current(community_id)
        keys = [await self._decrypt(stored.current)]
        if stored.previous is not None and stored.rotated_at is not None:
            if self._clock.now() - stored.rotated_at < self._overlap:
                keys.append(await self._decrypt(stored.previous))
            else:
                await self._store.forget_previous(community_id, stored.rotated_at)
                self._private.pop(stored.previous.public_pem, None)
                self._checked.pop(community_id, None)
        return keys

    async def rotate(self, community_id: int) -> str:
        """A new pair becomes current, the old one previous; the new public key (PEM)."""
        await self._current(community_id)  # a key to rotate from
        made = await asyncio.to_thread(new_pair, self._passphrase.decode("utf-8"))
        await self._store.rotate(community_id, made, self._clock.now())
        self._checked.pop(community_id, None)
        return await self.public_pem(community_id)

    async def _current(self, community_id: int) -> StoredKeys:
        checked = self._checked.get(community_id)
        if checked is not None and time.monotonic() - checked < RECHECK_SECONDS:
            return self._stored[community_id]
        async with self._lock:
            stored = await self._store.keys(community_id)
            if stored is None:  # RSA generation takes ~0.1 s: off the event loop
                made = await asyncio.to_thread(new_pair, self._passphrase.decode("utf-8"))
                stored = await self._store.keep(community_id, made, self._clock.now())
            await self._decrypt(stored.current)
            self._stored[community_id] = stored
            self._checked[community_id] = time.monotonic()
            return stored

    async def _decrypt(self, pair: KeyPair) -> rsa.RSAPrivateKey:
        known = self._private.get(pair.public_pem)
        if known is not None:
            return known
        private = await asyncio.to_thread(
            serialization.load_pem_private_key, pair.private_pem.encode(), self._passphrase
        )
        if not isinstance(private, rsa.RSAPrivateKey):
            raise ValueError("the stored signing key is not RSA")
        if len(self._private) > 4096:
            self._private.clear()
        self._private[pair.public_pem] = private
        return private
