"""What both the insight store and shared knowledge do to insight rows: the view built
from a row, the relations a view needs loaded, tags set in as few statements as possible,
and adopted copies kept in step with their origin.

Why a module of its own: knowledge/insights.py and knowledge/sharing.py both need these;
kept in either, each imported the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from knowledge.capture_writer import CaptureRow
from knowledge.models import Community, Insight, InsightTag, Member, Tag
from knowledge.tags import check_tag_count
from knowledge.upsert import insert_ignoring_conflict
from knowledge.views import FORGOTTEN_NAME, InsightView, MemberInfo
from knowledge.vocabulary import SHARED_VISIBILITIES, Visibility

WITHDRAWN = "This insight is no longer shared by {community} ({why}); only the credit remains."


def credited_name(member: Member | None) -> str:
    if member is None or member.forgotten_at is not None:
        return FORGOTTEN_NAME
    return member.display_name


def insight_view(row: Insight, revisions: int = 0) -> InsightView:
    return InsightView(
        id=row.id,
        community_id=row.community_id,
        title=row.title,
        body=row.body,
        tags=tuple(t.name for t in row.tags),
        author_name=row.origin_credit or credited_name(row.author),
        author_member_id=row.author_member_id,
        curator_name=credited_name(row.curator),
        curator_member_id=row.curator_member_id,
        permalink=row.source.permalink,
        source_platform=row.source.platform,
        source_space=row.source.space,
        source_channel=row.source.channel,
        source_message_id=row.source.message_id,
        source_deleted=row.source.deleted_at is not None,
        created_at=row.created_at,
        updated_at=row.updated_at,
        revisions=revisions,
        visibility=row.visibility,
        origin_insight_id=row.origin_insight_id,
        origin_credit=row.origin_credit,
    )


LOAD = (
    selectinload(Insight.tags),
    selectinload(Insight.author),
    selectinload(Insight.curator),
    selectinload(Insight.source),
)


async def set_tags(
    session: AsyncSession,
    community_id: int,
    insight_id: int,
    names: Sequence[str],
    *,
    fresh: bool = False,
) -> None:
    """Make the insight's tags exactly `names`, in as few statements as possible."""
    if not fresh:
        await session.execute(delete(InsightTag).where(InsightTag.insight_id == insight_id))
    unique = sorted(set(names))  # one lock order for every writer: no deadlocks
    check_tag_count(len(unique))
    if not unique:
        return
    await session.execute(
        insert_ignoring_conflict(
            session,
            Tag,
            [{"community_id": community_id, "name": n} for n in unique],
            ["community_id", "name"],
        )
    )
    tag_ids = (
        await session.scalars(
            select(Tag.id).where(Tag.community_id == community_id, Tag.name.in_(unique))
        )
    ).all()
    links = [{"insight_id": insight_id, "tag_id": t} for t in tag_ids]
    await session.execute(insert(cast(Table, InsightTag.__table__)), links)


async def follow_origin(session: AsyncSession, origin: Insight) -> None:
    """Adopted copies of a shared insight show its current words."""
    if origin.visibility not in SHARED_VISIBILITIES:
        return
    await session.execute(
        update(Insight)
        .where(Insight.origin_insight_id == origin.id)
        .values(body=origin.body, title=origin.title, updated_at=origin.updated_at)
    )


async def origin_withdrawn(session: AsyncSession, origin_id: int, why: str) -> None:
    """Un-shared, deleted or forgotten at the origin: copies keep the credit and a note."""
    name = await session.scalar(
        select(Community.name)
        .join(Insight, Insight.community_id == Community.id)
        .where(Insight.id == origin_id)
    )
    await session.execute(
        update(Insight)
        .where(Insight.origin_insight_id == origin_id)
        .values(body=WITHDRAWN.format(community=name or "its community", why=why), title=None)
    )


def new_insight_view(
    row: CaptureRow,
    insight_id: int,
    author: tuple[str, int | None],
    curator: MemberInfo,
    visibility: Visibility,
) -> InsightView:
    """The view of an insight just captured, from what was written (no read back);
    `author` is (name, member id)."""
    source = row.source
    return InsightView(
        id=insight_id,
        community_id=row.community_id,
        title=row.title,
        body=row.body,
        tags=tuple(sorted(row.tags)),
        author_name=author[0],
        author_member_id=author[1],
        curator_name=curator.display_name,
        curator_member_id=curator.id,
        permalink=source.permalink,
        source_platform=source.platform,
        source_space=source.space,
        source_channel=source.channel,
        source_message_id=source.message_id,
        source_deleted=False,
        created_at=row.now,
        updated_at=row.now,
        revisions=0,
        visibility=visibility,
    )
