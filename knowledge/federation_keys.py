"""The communities' signing keys: the current pair, and after a rotation the previous one
for an overlap window (remote servers still holding the old public key are answered with a
signature by it instead of failing), then forgotten."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update

from knowledge.db import Database
from knowledge.models import FederationKey
from knowledge.upsert import insert_ignoring_conflict


@dataclass(frozen=True)
class KeyPair:
    public_pem: str
    private_pem: str  # encrypted PKCS#8


@dataclass(frozen=True)
class StoredKeys:
    current: KeyPair
    previous: KeyPair | None
    rotated_at: datetime | None


class KeyStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def keys(self, community_id: int) -> StoredKeys | None:
        async with self._db.sessions() as session:
            row = await session.get(FederationKey, community_id)
            if row is None:
                return None
            previous = None
            if row.previous_public_pem and row.previous_private_pem:
                previous = KeyPair(row.previous_public_pem, row.previous_private_pem)
            return StoredKeys(KeyPair(row.public_pem, row.private_pem), previous, row.rotated_at)

    async def keep(self, community_id: int, pair: KeyPair, now: datetime) -> StoredKeys:
        """Store `pair` unless a key exists already (two processes raced): the stored one wins."""
        async with self._db.sessions.begin() as session:
            await session.execute(
                insert_ignoring_conflict(
                    session,
                    FederationKey,
                    {
                        "community_id": community_id,
                        "public_pem": pair.public_pem,
                        "private_pem": pair.private_pem,
                        "created_at": now,
                    },
                    ["community_id"],
                )
            )
        kept = await self.keys(community_id)
        assert kept is not None
        return kept

    async def rotate(self, community_id: int, pair: KeyPair, now: datetime) -> None:
        """The new pair becomes current; the current one becomes the previous (kept for the
        overlap window). Every process re-reads."""
        async with self._db.sessions.begin() as session:
            row = await session.get(FederationKey, community_id)
            if row is None:
                session.add(
                    FederationKey(
                        community_id=community_id,
                        public_pem=pair.public_pem,
                        private_pem=pair.private_pem,
                        created_at=now,
                    )
                )
                return
            row.previous_public_pem, row.previous_private_pem = row.public_pem, row.private_pem
            row.public_pem, row.private_pem = pair.public_pem, pair.private_pem
            row.created_at = row.rotated_at = now

    async def forget_previous(self, community_id: int, rotated_at: datetime) -> None:
        """The overlap is over: the previous private key leaves the database (unless a newer
        rotation happened meanwhile, whose previous key is still needed)."""
        async with self._db.sessions.begin() as session:
            await session.execute(
                update(FederationKey)
                .where(
                    FederationKey.community_id == community_id,
                    FederationKey.rotated_at == rotated_at,
                )
                .values(previous_public_pem=None, previous_private_pem=None)
            )
