"""Rituals, their rounds and responses: the source of truth the scheduler is rebuilt from.

Exactly-once is the store's job: a round is unique per (ritual, scheduled time), and every
step that posts (open, remind, close) is claimed by one conditional UPDATE, so several
Hearth processes on one database never post the same thing twice.
"""

from __future__ import annotations

from knowledge.pulse import ConstellationPulse
from knowledge.ritual_definitions import RitualDefinitions
from knowledge.ritual_holds import RitualHolds
from knowledge.ritual_joint import RitualJoint
from knowledge.ritual_joint_rounds import RitualJointRounds
from knowledge.ritual_opening import RitualOpening
from knowledge.ritual_preferences import RitualPreferences
from knowledge.ritual_responses import RitualResponses
from knowledge.ritual_rounds import RitualRounds
from knowledge.ritual_rows import (
    ANONYMOUS,
    CHUNK,
    LEASE,
    Completion,
    NewRitual,
    NewRound,
    OpenedRound,
    PostedPrompt,
    ResponseView,
    RitualSchedule,
    RitualView,
    RoundView,
    ritual_view,
    round_view,
)

__all__ = [
    "ANONYMOUS",
    "CHUNK",
    "LEASE",
    "Completion",
    "NewRitual",
    "NewRound",
    "OpenedRound",
    "PostedPrompt",
    "ResponseView",
    "RitualSchedule",
    "RitualStore",
    "RitualView",
    "RoundView",
    "ritual_view",
    "round_view",
]


class RitualStore(
    RitualDefinitions,
    RitualOpening,
    RitualRounds,
    RitualResponses,
    RitualPreferences,
    RitualJoint,
    RitualJointRounds,
    ConstellationPulse,
    RitualHolds,
):
    """Definitions, rounds (opening and after), responses, members' choices, joint
    rituals, the constellation's pulse and holds (spaces Hearth left) in one."""
