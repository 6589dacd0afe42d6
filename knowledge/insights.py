"""Insights: capture once per source message, edit with history, tag, delete."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from knowledge.capture_bulk import write_import_batch
from knowledge.capture_writer import IMPORT_PLATFORM, CaptureRow, CaptureWriter, Written
from knowledge.clock import Clock
from knowledge.db import Database
from knowledge.directory import member_for_identity
from knowledge.errors import NotAllowed, NotFound
from knowledge.insight_reads import InsightReads
from knowledge.insight_rows import (
    LOAD,
    follow_origin,
    new_insight_view,
    origin_withdrawn,
    set_tags,
)
from knowledge.insight_text import MAX_BODY_CHARS, validate_body, validate_title
from knowledge.joint_insights import JointInsights
from knowledge.models import Community, Insight, InsightRevision, Source
from knowledge.tags import check_tag_count, normalize_tags
from knowledge.upsert import insert_ignoring_conflict
from knowledge.views import (
    CaptureResult,
    InsightView,
    MemberInfo,
    SourceMessage,
)
from knowledge.vocabulary import Role, Visibility


class InsightStore(InsightReads):
    def __init__(self, database: Database) -> None:
        super().__init__(database)
        # SQLite: captures are written in batches on the connection's thread (see
        # knowledge/capture_writer.py); PostgreSQL keeps one ORM transaction each.
        self._writer = (
            CaptureWriter(database, write_import_batch) if database.dialect == "sqlite" else None
        )
        self.rounds = JointInsights(database)  # insights of joint ritual rounds

    @property
    def clock(self) -> Clock:
        return self._db.clock

    async def capture(
        self,
        community_id: int,
        source: SourceMessage,
        *,
        curator: MemberInfo,
        body: str | None = None,
        title: str | None = None,
        tags: Sequence[str] = (),
    ) -> CaptureResult:
        """Store an insight for `source` unless one exists; either way say which it is."""
        text = validate_body(source.text if body is None else body)
        title = validate_title(title)
        tag_names = normalize_tags(tags)
        check_tag_count(len(tag_names))  # before the INSERT: a refusal uses up no id
        if self._writer is not None:
            row = CaptureRow(
                community_id, source, curator.id, text, title, tag_names, self._db.clock.now()
            )
            return await self._captured(row, curator, await self._writer.write(row))
        async with self._db.sessions.begin() as session:
            author = await member_for_identity(
                session, community_id, source.platform, source.author_user_id, source.author_name
            )
            source_id = await self._source_id(session, community_id, source, author.id)
            now = self._db.clock.now()
            visibility = await session.scalar(
                select(Community.default_visibility).where(Community.id == community_id)
            )
            visibility = visibility or Visibility.COMMUNITY
            new_id = await session.scalar(
                insert_ignoring_conflict(
                    session,
                    Insight,
                    {
                        "community_id": community_id,
                        "source_id": source_id,
                        "title": title,
                        "body": text,
                        "author_member_id": author.id,
                        "curator_member_id": curator.id,
                        "created_at": now,
                        "updated_at": now,
                        "visibility": visibility,
                        "shared_at": None if visibility == Visibility.COMMUNITY else now,
                    },
                    ["community_id", "source_id"],
                ).returning(Insight.id)
            )
            if new_id is None:
                existing = await session.scalar(
                    select(Insight.id).where(
                        Insight.community_id == community_id, Insight.source_id == source_id
                    )
                )
                assert existing is not None
                return CaptureResult(await self.view_of(session, existing), created=False)
            await set_tags(session, community_id, new_id, tag_names, fresh=True)
        view = new_insight_view(
            CaptureRow(community_id, source, curator.id, text, title, tag_names, now),
            new_id,
            (author.display_name, author.id),
            curator,
            visibility,
        )
        return CaptureResult(view, created=True)

    async def capture_many(self, rows: Sequence[CaptureRow]) -> list[bool | BaseException]:
        """Capture validated rows in as few transactions as possible (imports); returns,
        per row, whether it created an insight, or the error that refused that row alone.
        A row with `look_first` whose source is already captured adds nothing, not even
        its author."""
        if self._writer is not None:
            outcomes = await self._writer.write_many(rows)
            return [o if isinstance(o, BaseException) else o.created for o in outcomes]
        created: list[bool | BaseException] = []
        for row in rows:
            src = row.source
            if row.look_first and await self.find_by_source(
                row.community_id, src.platform, src.space, src.channel, src.message_id
            ):
                created.append(False)
                continue
            try:
                curator = await self._curator(row)
                result = await self.capture(
                    row.community_id,
                    src,
                    curator=curator,
                    body=row.body,
                    title=row.title,
                    tags=row.tags,
                )
            except Exception as exc:  # this row alone is refused; the others go on
                created.append(exc)
                continue
            created.append(result.created)
        return created

    async def _curator(self, row: CaptureRow) -> MemberInfo:
        if row.curator_id is not None:
            return MemberInfo(row.curator_id, row.community_id, "", Role.MEMBER)
        async with self._db.sessions.begin() as session:
            return await member_for_identity(
                session, row.community_id, IMPORT_PLATFORM, row.curator_name, row.curator_name
            )

    async def _captured(
        self, row: CaptureRow, curator: MemberInfo, written: Written
    ) -> CaptureResult:
        if not written.created:
            async with self._db.sessions() as session:
                return CaptureResult(await self.view_of(session, written.insight_id), created=False)
        author = (written.author_name, written.author_id)
        assert written.visibility is not None  # a created insight has one
        view = new_insight_view(row, written.insight_id, author, curator, written.visibility)
        return CaptureResult(view, created=True)

    async def get(self, community_id: int, insight_id: int) -> InsightView:
        async with self._db.sessions() as session:
            return await self.view_of(session, await _own(session, community_id, insight_id))

    async def edit(
        self,
        community_id: int,
        insight_id: int,
        editor: MemberInfo,
        body: str,
        title: str | None = None,
        add_tags: Sequence[str] = (),
    ) -> InsightView:
        text = validate_body(body)
        title = validate_title(title)
        extra = normalize_tags(add_tags)
        async with self._db.sessions.begin() as session:
            row = await self._editable(session, community_id, insight_id, editor)
            row_id = row.id
            await _record_revision(session, row, editor)
            row.body = text
            if title is not None:
                row.title = title
            row.updated_at = self._db.clock.now()
            if extra:
                current = tuple(t.name for t in row.tags)
                await set_tags(session, community_id, row_id, (*current, *extra))
            await session.flush()
            await follow_origin(session, row)
            return await self.view_of(session, row_id)

    async def retag(
        self, community_id: int, insight_id: int, editor: MemberInfo, tags: Sequence[str]
    ) -> InsightView:
        names = normalize_tags(tags)
        check_tag_count(len(names))
        async with self._db.sessions.begin() as session:
            row = await self._editable(session, community_id, insight_id, editor)
            row_id = row.id
            await _record_revision(session, row, editor)
            row.updated_at = self._db.clock.now()
            await set_tags(session, community_id, row_id, names)
            return await self.view_of(session, row_id)

    async def delete(self, community_id: int, insight_id: int, editor: MemberInfo) -> InsightView:
        async with self._db.sessions.begin() as session:
            row = await self._editable(session, community_id, insight_id, editor)
            view = await self.view_of(session, row.id)
            await origin_withdrawn(session, row.id, "deleted where it came from")
            await session.delete(row)
            return view

    async def source_edited(
        self, platform: str, space: str, channel: str, message_id: str, text: str
    ) -> int | None:
        """Follow an edit of a captured message; returns the insight id if there is one."""
        async with self._db.sessions.begin() as session:
            source = await _source(session, platform, space, channel, message_id)
            if source is None:
                return None
            old_text, source.text = source.text, text
            source.edited_at = self._db.clock.now()
            row = await session.scalar(
                select(Insight)
                .options(*LOAD)
                .where(Insight.source_id == source.id, Insight.origin_insight_id.is_(None))
            )
            if row is None:
                return None
            if row.body == old_text and text.strip():
                await _record_revision(session, row, None)
                row.body = text.strip()[:MAX_BODY_CHARS]
                row.updated_at = self._db.clock.now()
                await session.flush()
                await follow_origin(session, row)
            return row.id

    async def source_deleted(
        self, platform: str, space: str, channel: str, message_id: str
    ) -> int | None:
        async with self._db.sessions.begin() as session:
            source = await _source(session, platform, space, channel, message_id)
            if source is None:
                return None
            source.deleted_at = self._db.clock.now()
            return await session.scalar(
                select(Insight.id).where(
                    Insight.source_id == source.id, Insight.origin_insight_id.is_(None)
                )
            )

    async def _source_id(
        self, session: AsyncSession, community_id: int, source: SourceMessage, author_id: int
    ) -> int:
        key = {
            "platform": source.platform,
            "space": source.space,
            "channel": source.channel,
            "message_id": source.message_id,
        }
        values = {
            **key,
            "community_id": community_id,
            "thread_id": source.thread_id,
            "author_member_id": author_id,
            "text": source.text,
            "permalink": source.permalink,
            "posted_at": source.posted_at or self._db.clock.now(),
        }
        source_id = await session.scalar(
            insert_ignoring_conflict(
                session, Source, values, ["platform", "space", "channel", "message_id"]
            ).returning(Source.id)
        )
        if source_id is None:  # seen before (e.g. captured, deleted, captured again)
            source_id = await session.scalar(select(Source.id).filter_by(**key))
        assert source_id is not None
        return int(source_id)

    async def _editable(
        self, session: AsyncSession, community_id: int, insight_id: int, editor: MemberInfo
    ) -> Insight:
        row = await session.scalar(
            select(Insight)
            .options(*LOAD)
            .where(Insight.id == await _own(session, community_id, insight_id))
        )
        assert row is not None
        if not may_change(editor, row):
            raise NotAllowed(
                f"Only its author, whoever captured it, or a curator can change "
                f"insight #{insight_id}."
            )
        return row


async def _source(
    session: AsyncSession, platform: str, space: str, channel: str, message_id: str
) -> Source | None:
    return await session.scalar(
        select(Source).filter_by(
            platform=platform, space=space, channel=channel, message_id=message_id
        )
    )


def may_change(member: MemberInfo, insight: Insight) -> bool:
    return member.role.at_least(Role.CURATOR) or member.id in (
        insight.author_member_id,
        insight.curator_member_id,
    )


async def _own(session: AsyncSession, community_id: int, insight_id: int) -> int:
    found = await session.scalar(
        select(Insight.id).where(Insight.id == insight_id, Insight.community_id == community_id)
    )
    if found is None:
        raise NotFound(f"There is no insight #{insight_id} in this community.")
    return found


async def _record_revision(session: AsyncSession, row: Insight, editor: MemberInfo | None) -> None:
    number = await session.scalar(
        select(func.coalesce(func.max(InsightRevision.number), 0)).where(
            InsightRevision.insight_id == row.id
        )
    )
    session.add(
        InsightRevision(
            insight_id=row.id,
            number=int(number or 0) + 1,
            title=row.title,
            body=row.body,
            tags=" ".join(t.name for t in row.tags),
            editor_member_id=None if editor is None else editor.id,
        )
    )
