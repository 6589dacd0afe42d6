"""The words the store and the core share: roles, visibility, ritual and relay states.

Why apart from the tables: the core and the adapters name a Role or a Visibility without
importing SQLAlchemy; models.py maps these onto columns.
"""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    """Ordered: a steward may do all a curator may, a curator all a member may."""

    MEMBER = "member"
    CURATOR = "curator"
    STEWARD = "steward"

    @property
    def rank(self) -> int:
        return _ROLE_RANK[self]

    def at_least(self, other: Role) -> bool:
        return self.rank >= other.rank


_ROLE_RANK = {Role.MEMBER: 0, Role.CURATOR: 1, Role.STEWARD: 2}


class RoleSource(enum.StrEnum):
    """Where a member's role came from, which decides who may take it away.

    The platform (Slack admin, Discord role, Matrix power level) may lower only what it
    granted itself; a role from the config file or granted inside Hearth stays.
    """

    CONFIG = "config"
    HEARTH = "hearth"
    PLATFORM = "platform"


class Visibility(enum.StrEnum):
    """Who may find an insight: its community, linked siblings that share, or anyone."""

    COMMUNITY = "community"
    CONSTELLATION = "constellation"
    PUBLIC = "public"

    @property
    def shared(self) -> bool:
        return self is not Visibility.COMMUNITY


SHARED_VISIBILITIES = (Visibility.CONSTELLATION.value, Visibility.PUBLIC.value)


class RitualKind(enum.StrEnum):
    REFLECTION = "reflection"
    RETRO = "retro"
    CHECKIN = "checkin"
    DIGEST = "digest"
    CUSTOM = "custom"


class RoundStatus(enum.StrEnum):
    PENDING = "pending"  # created, prompt not posted yet (or posting failed; will retry)
    OPEN = "open"
    CLOSED = "closed"
    MISSED = "missed"  # its time passed beyond the grace period while Hearth was down
    SKIPPED = "skipped"


class JointStatus(enum.StrEnum):
    """A community's answer to a joint ritual: only `accepted` takes part."""

    INVITED = "invited"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    LEFT = "left"  # its link ended: final


class LinkStatus(enum.StrEnum):
    INVITED = "invited"  # one side opted in; the code is waiting to be accepted
    ACTIVE = "active"  # both sides opted in
    LEFT = "left"  # one side left: final; a new link needs a new invitation


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    PARKED = "parked"  # kept failing or needs a person: waits for /relay retry
    FAILED = "failed"  # cannot ever succeed (its copy is gone): reported, skipped
    CANCELLED = "cancelled"  # its link was left
