"""Reflection, check-in and custom rituals: a prompt, replies in its thread, a synthesis."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from knowledge.rituals import ResponseView, RitualView
from knowledge.vocabulary import RitualKind
from scheduling.kinds import PromptInputs
from scheduling.kinds.summary import author, footer, heading, late_note, quote


@dataclass(frozen=True)
class Conversation:
    kind: RitualKind
    default_window: timedelta
    icon: str
    collects_responses: bool = True

    def prompt(self, inputs: PromptInputs) -> str:
        text = inputs.ritual.prompt or inputs.rotation_prompt
        late = late_note(inputs.late)
        return f"{self.icon} {text}{late}\nReply in this thread."

    def synthesis(self, ritual: RitualView, responses: list[ResponseView]) -> str:
        lines = [heading(ritual, responses)]
        lines.extend(f"• {author(r, ritual)}: {quote(r.text)}" for r in responses)
        lines.extend(footer(responses))
        return "\n".join(lines)


REFLECTION = Conversation(RitualKind.REFLECTION, timedelta(days=2), "💭")
CHECKIN = Conversation(RitualKind.CHECKIN, timedelta(days=1), "👋")
CUSTOM = Conversation(RitualKind.CUSTOM, timedelta(days=1), "🔔")
