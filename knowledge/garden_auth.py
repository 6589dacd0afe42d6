"""Members signing in to the web garden: one-time links and sessions, kept in the store.

A link's token and a session's token are 32 random bytes (URL-safe); only their SHA-256
is stored, so a copy of the database signs nobody in. A link works once (one conditional
UPDATE claims it, so two instances or a double click cannot both use it) and for
`LINK_TTL`; a session lasts `SESSION_TTL` and ends when the member is forgotten
(/forget-me) or signs out. Each session has its own CSRF token for the garden's forms.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update

from knowledge.db import Database
from knowledge.directory import community_info, member_info
from knowledge.models import Community, GardenLogin, GardenSession, Member
from knowledge.views import CommunityInfo, MemberInfo

LINK_TTL = timedelta(minutes=10)
SESSION_TTL = timedelta(days=7)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class SignedIn:
    member: MemberInfo
    community: CommunityInfo
    csrf: str

    def csrf_ok(self, given: str) -> bool:
        return hmac.compare_digest(self.csrf, given)


@dataclass(frozen=True)
class PendingLink:
    member_name: str
    community: CommunityInfo


class GardenAuth:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def issue_link(self, member: MemberInfo, now: datetime) -> str:
        """A new one-time sign-in token for `member`, valid for LINK_TTL."""
        token = secrets.token_urlsafe(32)
        async with self._db.sessions.begin() as session:
            await session.execute(  # this member's used or expired links are no use now
                delete(GardenLogin).where(
                    GardenLogin.member_id == member.id,
                    (GardenLogin.expires_at <= now) | GardenLogin.used_at.is_not(None),
                )
            )
            session.add(
                GardenLogin(
                    token_hash=_hash(token),
                    member_id=member.id,
                    community_id=member.community_id,
                    expires_at=now + LINK_TTL,
                )
            )
        return token

    async def peek_link(self, token: str, now: datetime) -> PendingLink | None:
        """Who a still-usable link would sign in, without using it (a link preview or a
        GET must not spend it)."""
        async with self._db.sessions() as session:
            row = (
                await session.execute(
                    select(Member, Community)
                    .join(GardenLogin, GardenLogin.member_id == Member.id)
                    .join(Community, Community.id == GardenLogin.community_id)
                    .where(
                        GardenLogin.token_hash == _hash(token),
                        GardenLogin.used_at.is_(None),
                        GardenLogin.expires_at > now,
                        Member.forgotten_at.is_(None),
                    )
                )
            ).one_or_none()
            if row is None:
                return None
            member, community = row
            return PendingLink(member.display_name, community_info(community))

    async def redeem(self, token: str, now: datetime) -> tuple[str, SignedIn] | None:
        """Use the link (once) and open a session: (session token, who signed in)."""
        async with self._db.sessions.begin() as session:
            claimed = await session.execute(
                update(GardenLogin)
                .where(
                    GardenLogin.token_hash == _hash(token),
                    GardenLogin.used_at.is_(None),
                    GardenLogin.expires_at > now,
                )
                .values(used_at=now)
                .returning(GardenLogin.member_id)
            )
            member_id = claimed.scalar_one_or_none()
            if member_id is None:
                return None
            session_token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
            member = await session.get(Member, member_id)
            if member is None or member.forgotten_at is not None:
                return None
            community = await session.get(Community, member.community_id)
            assert community is not None  # members cascade with their community
            session.add(
                GardenSession(
                    token_hash=_hash(session_token),
                    member_id=member.id,
                    community_id=member.community_id,
                    csrf=csrf,
                    expires_at=now + SESSION_TTL,
                )
            )
            signed = SignedIn(member_info(member), community_info(community), csrf)
        return session_token, signed

    async def signed_in(self, token: str, now: datetime) -> SignedIn | None:
        async with self._db.sessions() as session:
            row = (
                await session.execute(
                    select(GardenSession.csrf, Member, Community)
                    .join(Member, Member.id == GardenSession.member_id)
                    .join(Community, Community.id == GardenSession.community_id)
                    .where(
                        GardenSession.token_hash == _hash(token),
                        GardenSession.expires_at > now,
                        Member.forgotten_at.is_(None),
                    )
                )
            ).one_or_none()
            if row is None:
                return None
            csrf, member, community = row
            return SignedIn(member_info(member), community_info(community), csrf)

    async def sign_out(self, token: str) -> None:
        async with self._db.sessions.begin() as session:
            await session.execute(
                delete(GardenSession).where(GardenSession.token_hash == _hash(token))
            )
