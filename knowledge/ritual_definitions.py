"""Ritual definitions: create, find, list, change and remove the rituals themselves.

`schedules` is what every instance's timer reconciles against, a few columns, no joins.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from knowledge.errors import InvalidInput, NotFound
from knowledge.models import Ritual
from knowledge.ritual_rows import (
    CHUNK,
    NewRitual,
    RitualSchedule,
    RitualTables,
    RitualView,
    ritual_view,
)


class RitualDefinitions(RitualTables):
    async def create(self, community_id: int, new: NewRitual) -> RitualView:
        async with self._db.sessions() as session:
            row = Ritual(community_id=community_id, **new.__dict__)
            session.add(row)
            try:
                await session.commit()
            except IntegrityError:
                raise InvalidInput(
                    f"There is already a ritual named {new.name}: pick another with name:<name>."
                ) from None
            return ritual_view(row)

    async def get(self, community_id: int, name: str) -> RitualView:
        async with self._db.sessions() as session:
            row = await session.scalar(
                select(Ritual).where(Ritual.community_id == community_id, Ritual.name == name)
            )
            if row is None:
                raise NotFound(f"There is no ritual named {name!r} here. See /ritual list.")
            return ritual_view(row)

    async def by_id(self, ritual_id: int) -> RitualView | None:
        async with self._db.sessions() as session:
            row = await session.get(Ritual, ritual_id)
            return None if row is None else ritual_view(row)

    async def names(self, community_id: int) -> list[str]:
        async with self._db.sessions() as session:
            rows = await session.scalars(
                select(Ritual.name).where(Ritual.community_id == community_id)
            )
            return list(rows)

    async def rituals(self, community_id: int | None = None) -> list[RitualView]:
        async with self._db.sessions() as session:
            query = select(Ritual).order_by(Ritual.community_id, Ritual.name)
            if community_id is not None:
                query = query.where(Ritual.community_id == community_id)
            return [ritual_view(r) for r in await session.scalars(query)]

    async def schedules(self) -> list[RitualSchedule]:
        """Every ritual's timing (a few columns, no joins): read by each instance every
        few seconds to add, move or drop its timer jobs."""
        async with self._db.sessions() as session:
            rows = await session.execute(
                select(Ritual.id, Ritual.cron, Ritual.timezone, Ritual.paused)
            )
            return [RitualSchedule(r.id, r.cron, r.timezone, r.paused) for r in rows]

    async def change(self, ritual_id: int, **values: Any) -> RitualView:
        async with self._db.sessions.begin() as session:
            row = await session.get(Ritual, ritual_id)
            if row is None:
                raise NotFound("That ritual no longer exists.")
            for key, value in values.items():
                setattr(row, key, value)
            await session.flush()
            return ritual_view(row)

    async def remove(self, ritual_id: int) -> None:
        async with self._db.sessions.begin() as session:
            row = await session.get(Ritual, ritual_id)
            if row is not None:
                await session.delete(row)

    async def by_ids(self, ritual_ids: Sequence[int]) -> list[RitualView]:
        """The rituals with these ids that still exist, in one query per CHUNK ids."""
        found: list[RitualView] = []
        async with self._db.sessions() as session:
            for start in range(0, len(ritual_ids), CHUNK):
                chunk = list(ritual_ids[start : start + CHUNK])
                rows = await session.scalars(select(Ritual).where(Ritual.id.in_(chunk)))
                found.extend(ritual_view(r) for r in rows)
        return found
