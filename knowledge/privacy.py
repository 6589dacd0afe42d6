"""Forgetting a person: their words go, their name goes, what others said stays."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from knowledge.db import Database
from knowledge.models import Identity, Insight, InsightRevision, Member, Source
from knowledge.schema_extras import SQLITE_FTS_TABLE
from knowledge.views import FORGOTTEN_NAME, MemberInfo


@dataclass(frozen=True)
class ForgetSummary:
    """What forgetting removes (authored) and what it only anonymises (curated)."""

    authored_insights: int
    curated_insights: int
    sources: int
    identities: int


class Privacy:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def preview(self, member: MemberInfo) -> ForgetSummary:
        async with self._db.sessions() as session:
            return await _summary(session, member)

    async def forget(self, member: MemberInfo) -> ForgetSummary:
        """Delete the member's own words and identities; anonymise what they curated."""
        async with self._db.sessions.begin() as session:
            summary = await _summary(session, member)
            mine = Insight.author_member_id == member.id
            # their words leave siblings' views too: adopted copies of them go with them
            await session.execute(
                delete(Insight).where(Insight.origin_insight_id.in_(select(Insight.id).where(mine)))
            )
            await session.execute(delete(Insight).where(mine))
            await session.execute(
                update(Insight)
                .where(Insight.curator_member_id == member.id)
                .values(curator_member_id=None)
            )
            await session.execute(
                update(InsightRevision)
                .where(InsightRevision.editor_member_id == member.id)
                .values(editor_member_id=None)
            )
            orphaned = select(Insight.source_id).where(Insight.source_id == Source.id).exists()
            await session.execute(
                delete(Source).where(Source.author_member_id == member.id, ~orphaned)
            )
            await session.execute(
                update(Source)
                .where(Source.author_member_id == member.id)
                .values(author_member_id=None, text="", permalink=None)
            )
            await session.execute(delete(Identity).where(Identity.member_id == member.id))
            await session.execute(
                update(Member)
                .where(Member.id == member.id)
                .values(display_name=FORGOTTEN_NAME, forgotten_at=self._db.clock.now())
            )
            await _purge_search_index(session, self._db.dialect)
            return summary


async def _purge_search_index(session: AsyncSession, dialect: str) -> None:
    """SQLite's FTS5 only marks deleted rows in a new segment: the words stay in the
    index's pages until segments merge. 'optimize' merges them all now, in the same
    transaction, so forgotten words are gone from the index data, not just unfindable."""
    if dialect == "sqlite":
        fts = SQLITE_FTS_TABLE
        await session.execute(text(f"INSERT INTO {fts}({fts}) VALUES ('optimize')"))


async def _count(session: AsyncSession, query: Select[int]) -> int:
    return int(await session.scalar(query) or 0)


async def _summary(session: AsyncSession, member: MemberInfo) -> ForgetSummary:
    return ForgetSummary(
        authored_insights=await _count(
            session, select(func.count(Insight.id)).where(Insight.author_member_id == member.id)
        ),
        curated_insights=await _count(
            session,
            select(func.count(Insight.id)).where(
                Insight.curator_member_id == member.id,
                Insight.author_member_id.is_distinct_from(member.id),
            ),
        ),
        sources=await _count(
            session, select(func.count(Source.id)).where(Source.author_member_id == member.id)
        ),
        identities=await _count(
            session, select(func.count(Identity.id)).where(Identity.member_id == member.id)
        ),
    )
