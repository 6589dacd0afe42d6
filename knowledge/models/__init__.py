"""The knowledge store's schema: one typed SQLAlchemy model shared by SQLite and
PostgreSQL, a module per domain. Every table is importable from here."""

from __future__ import annotations

from knowledge.models.base import Base, UTCDateTime
from knowledge.models.federation import (
    FederatedLink,
    FederationDelivery,
    FederationFollower,
    FederationInboxItem,
    FederationKey,
    FederationPublished,
    FederationShared,
)
from knowledge.models.garden import GardenLogin, GardenSession
from knowledge.models.insights import (
    Insight,
    InsightEmbedding,
    InsightRevision,
    InsightTag,
    Source,
    Tag,
    VectorListSet,
)
from knowledge.models.joint import JointParticipant, JointRitual, JointRound
from knowledge.models.people import ChannelBinding, Community, Identity, Member
from knowledge.models.plumbing import InboundEvent, PendingConfirmation, RateWindow, SyncCursor
from knowledge.models.relays import (
    Link,
    LinkSide,
    OutboxItem,
    RelayCopy,
    RelayMessage,
    RelayParticipant,
    RelayThread,
)
from knowledge.models.rituals import (
    CommunityPrompt,
    MemberPreference,
    Ritual,
    RitualResponse,
    RitualRound,
)
from knowledge.models.slack import SlackInstallation, SlackOAuthState

__all__ = [
    "Base",
    "ChannelBinding",
    "Community",
    "CommunityPrompt",
    "FederatedLink",
    "FederationDelivery",
    "FederationFollower",
    "FederationInboxItem",
    "FederationKey",
    "FederationPublished",
    "FederationShared",
    "GardenLogin",
    "GardenSession",
    "Identity",
    "InboundEvent",
    "Insight",
    "InsightEmbedding",
    "InsightRevision",
    "InsightTag",
    "JointParticipant",
    "JointRitual",
    "JointRound",
    "Link",
    "LinkSide",
    "Member",
    "MemberPreference",
    "OutboxItem",
    "PendingConfirmation",
    "RateWindow",
    "RelayCopy",
    "RelayMessage",
    "RelayParticipant",
    "RelayThread",
    "Ritual",
    "RitualResponse",
    "RitualRound",
    "SlackInstallation",
    "SlackOAuthState",
    "Source",
    "SyncCursor",
    "Tag",
    "UTCDateTime",
    "VectorListSet",
]
