"""Joint rituals in the store: proposals to linked communities, each community's answer,
the shared rounds, and who may still take part.

Taking part is decided when it is read, never remembered: a community takes part while
it accepted and, unless it owns the ritual, an active link joins it to the owner. So
leaving a link or declining stops its part at once, whatever was scheduled or claimed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from knowledge.errors import InvalidInput, NotAllowed, NotFound
from knowledge.joint_rows import (
    JointView,
    ParticipantView,
    joint_view,
)
from knowledge.models import (
    Community,
    JointParticipant,
    JointRitual,
    Link,
    Ritual,
)
from knowledge.ritual_rows import (
    NewRitual,
    RitualTables,
    RitualView,
    ritual_view,
)
from knowledge.vocabulary import JointStatus, LinkStatus


def _pair(a: int, b: int) -> str:
    low, high = sorted((a, b))
    return f"{low}-{high}"


async def _linked(session: AsyncSession, a: int, b: int) -> bool:
    found = await session.scalar(
        select(Link.id).where(Link.pair == _pair(a, b), Link.status == LinkStatus.ACTIVE)
    )
    return found is not None


async def taking_part(session: AsyncSession, joint_id: int) -> set[int]:
    """The communities that take part now: accepted, and (but the owner) linked to it."""
    owner = await session.scalar(
        select(JointRitual.owner_community_id).where(JointRitual.id == joint_id)
    )
    if owner is None:
        return set()
    accepted = await session.scalars(
        select(JointParticipant.community_id).where(
            JointParticipant.joint_id == joint_id,
            JointParticipant.status == JointStatus.ACCEPTED,
        )
    )
    return {c for c in accepted if c == owner or await _linked(session, c, owner)}


class RitualJoint(RitualTables):
    async def propose(
        self, community_id: int, new: NewRitual, invited: Sequence[int]
    ) -> tuple[JointView, RitualView]:
        """The joint ritual, the owner's own ritual of it and an invitation per linked
        community, in one transaction. Every invited community must be linked now."""
        async with self._db.sessions.begin() as session:
            for other in invited:
                if other == community_id or not await _linked(session, community_id, other):
                    raise NotAllowed("Joint rituals can only be proposed to linked communities.")
            joint = JointRitual(
                owner_community_id=community_id,
                name=new.name,
                kind=new.kind,
                prompt=new.prompt,
                schedule_text=new.schedule_text,
                cron=new.cron,
                timezone=new.timezone,
                every_weeks=new.every_weeks,
                anchor=new.anchor,
                window_minutes=new.window_minutes,
                anonymous=new.anonymous,
                created_by_member_id=new.created_by_member_id,
            )
            session.add(joint)
            await session.flush()
            fields = {**new.__dict__, "joint_id": joint.id}
            ritual = Ritual(community_id=community_id, **fields)
            session.add(ritual)
            try:
                await session.flush()
            except IntegrityError:
                raise InvalidInput(
                    f"There is already a ritual named {new.name}: pick another with name:<name>."
                ) from None
            session.add(
                JointParticipant(
                    joint_id=joint.id,
                    community_id=community_id,
                    status=JointStatus.ACCEPTED,
                    ritual_id=ritual.id,
                    decided_by_member_id=new.created_by_member_id,
                    decided_at=ritual.created_at,
                )
            )
            for other in invited:
                session.add(
                    JointParticipant(
                        joint_id=joint.id, community_id=other, status=JointStatus.INVITED
                    )
                )
            await session.flush()
            return joint_view(joint), ritual_view(ritual)

    async def leave_joints(self, community_id: int, other_id: int) -> int:
        """A link between the two ended: each one's part in the other's joint rituals
        ends for good (`left`) and its own ritual of it is paused. Returns how many."""
        async with self._db.sessions.begin() as session:
            pairs = ((community_id, other_id), (other_id, community_id))
            parts = list(
                await session.scalars(
                    select(JointParticipant)
                    .join(JointRitual, JointRitual.id == JointParticipant.joint_id)
                    .where(
                        or_(
                            *(
                                and_(
                                    JointRitual.owner_community_id == owner,
                                    JointParticipant.community_id == member,
                                )
                                for owner, member in pairs
                            )
                        ),
                        JointParticipant.status != JointStatus.LEFT,
                    )
                )
            )
            for part in parts:
                part.status = JointStatus.LEFT
                if part.ritual_id is not None:
                    await session.execute(
                        update(Ritual).where(Ritual.id == part.ritual_id).values(paused=True)
                    )
            return len(parts)

    async def joint(self, joint_id: int) -> JointView | None:
        async with self._db.sessions() as session:
            row = await session.get(JointRitual, joint_id)
            return None if row is None else joint_view(row)

    async def participants(self, joint_id: int) -> list[ParticipantView]:
        async with self._db.sessions() as session:
            rows = await session.execute(
                select(JointParticipant, Community.slug, Community.name)
                .join(Community, Community.id == JointParticipant.community_id)
                .where(JointParticipant.joint_id == joint_id)
                .order_by(JointParticipant.id)
            )
            return [
                ParticipantView(
                    p.joint_id, p.community_id, slug, name, p.status, p.ritual_id, p.local_time
                )
                for p, slug, name in rows
            ]

    async def joints_of(self, community_id: int) -> list[tuple[JointView, JointStatus]]:
        """Every joint ritual this community was asked to (or owns), with its answer."""
        async with self._db.sessions() as session:
            rows = await session.execute(
                select(JointRitual, JointParticipant.status)
                .join(JointParticipant, JointParticipant.joint_id == JointRitual.id)
                .where(JointParticipant.community_id == community_id)
                .order_by(JointRitual.id)
            )
            return [(joint_view(j), status) for j, status in rows]

    async def decide(
        self,
        joint_id: int,
        community_id: int,
        member_id: int,
        now: datetime,
        *,
        accept: bool,
        channel: tuple[str, str, str] | None = None,
        local_time: str | None = None,
    ) -> RitualView | None:
        """Accept (creating this community's own ritual in `channel`) or decline (pausing
        it if it had accepted). Returns the community's ritual when it accepted."""
        async with self._db.sessions.begin() as session:
            joint = await session.get(JointRitual, joint_id)
            part = await session.scalar(
                select(JointParticipant).where(
                    JointParticipant.joint_id == joint_id,
                    JointParticipant.community_id == community_id,
                )
            )
            if joint is None or part is None:
                raise NotFound(f"No joint ritual #{joint_id} was proposed to this community.")
            if joint.owner_community_id == community_id:
                raise InvalidInput(
                    "This community proposed that joint ritual: pause or remove it with /ritual."
                )
            if part.status == JointStatus.LEFT or not await _linked(
                session, community_id, joint.owner_community_id
            ):
                raise NotAllowed("That joint ritual's community is no longer linked with this one.")
            part.decided_by_member_id = member_id
            part.decided_at = now
            if not accept:
                part.status = JointStatus.DECLINED
                if part.ritual_id is not None:
                    await session.execute(
                        update(Ritual).where(Ritual.id == part.ritual_id).values(paused=True)
                    )
                return None
            if part.status == JointStatus.ACCEPTED and part.ritual_id is not None:
                raise InvalidInput(
                    f"This community already takes part in joint ritual #{joint_id}."
                )
            assert channel is not None
            ritual = await session.get(Ritual, part.ritual_id) if part.ritual_id else None
            if ritual is None:
                ritual = await self._local_ritual(session, joint, community_id, member_id)
            ritual.platform, ritual.space, ritual.channel = channel
            ritual.local_time = local_time
            ritual.paused = False
            await session.flush()
            part.status = JointStatus.ACCEPTED
            part.ritual_id = ritual.id
            part.local_time = local_time
            return ritual_view(ritual)

    async def _local_ritual(
        self, session: AsyncSession, joint: JointRitual, community_id: int, member_id: int
    ) -> Ritual:
        taken = set(
            await session.scalars(select(Ritual.name).where(Ritual.community_id == community_id))
        )
        name = joint.name if joint.name not in taken else f"{joint.name}-j{joint.id}"[:64]
        ritual = Ritual(
            community_id=community_id,
            name=name,
            kind=joint.kind,
            platform="",
            space="",
            channel="",
            schedule_text=joint.schedule_text,
            cron=joint.cron,
            timezone=joint.timezone,
            every_weeks=joint.every_weeks,
            anchor=joint.anchor,
            window_minutes=joint.window_minutes,
            prompt=joint.prompt,
            anonymous=joint.anonymous,
            created_by_member_id=member_id,
            joint_id=joint.id,
        )
        session.add(ritual)
        return ritual

    async def taking_part(self, joint_id: int) -> set[int]:
        """The communities that take part now: accepted, and linked to the owner."""
        async with self._db.sessions() as session:
            return await taking_part(session, joint_id)

    async def takes_part(self, ritual: RitualView) -> bool:
        """Whether this community's ritual of a joint ritual may post now."""
        if ritual.joint_id is None:
            return True
        return ritual.community_id in await self.taking_part(ritual.joint_id)
