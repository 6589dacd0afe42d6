"""Ritual kinds: what each posts when a round opens and what it says when it closes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from knowledge.rituals import ResponseView, RitualView
from knowledge.views import InsightView
from knowledge.vocabulary import RitualKind


@dataclass(frozen=True)
class PromptInputs:
    ritual: RitualView
    rotation_prompt: str  # this round's prompt from the rotation (own prompts, then defaults)
    new_insights: tuple[InsightView, ...]  # for digests: captured since the previous round
    since: datetime
    late: bool
    # for digests: what linked communities shared since then, as (community name, insight)
    from_constellation: tuple[tuple[str, InsightView], ...] = ()


class KindBehaviour(Protocol):
    @property
    def kind(self) -> RitualKind: ...
    @property
    def default_window(self) -> timedelta: ...
    @property
    def collects_responses(self) -> bool: ...

    def prompt(self, inputs: PromptInputs) -> str: ...

    def synthesis(self, ritual: RitualView, responses: list[ResponseView]) -> str: ...


def behaviour(kind: RitualKind) -> KindBehaviour:
    from scheduling.kinds import digest, reflection, retro

    table: dict[RitualKind, KindBehaviour] = {
        RitualKind.REFLECTION: reflection.REFLECTION,
        RitualKind.CHECKIN: reflection.CHECKIN,
        RitualKind.CUSTOM: reflection.CUSTOM,
        RitualKind.RETRO: retro.RETRO,
        RitualKind.DIGEST: digest.DIGEST,
    }
    return table[kind]
