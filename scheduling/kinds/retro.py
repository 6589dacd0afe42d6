"""Retros: replies sorted into went well / to improve / ideas by their first character."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from knowledge.rituals import ResponseView, RitualView
from knowledge.vocabulary import RitualKind
from scheduling.kinds import PromptInputs
from scheduling.kinds.summary import author, footer, heading, late_note, quote

GROUPS = (("+", "✅ Went well"), ("-", "🔧 To improve"), ("?", "💡 Ideas"))


def group_of(text: str) -> str:
    first = text.lstrip()[:1]
    if first in ("!",):
        first = "?"
    return first if first in {g for g, _ in GROUPS} else ""


@dataclass(frozen=True)
class Retro:
    kind: RitualKind = RitualKind.RETRO
    default_window: timedelta = timedelta(days=3)
    collects_responses: bool = True

    def prompt(self, inputs: PromptInputs) -> str:
        text = inputs.ritual.prompt or inputs.rotation_prompt
        late = late_note(inputs.late)
        return f"🔁 {text}{late}"

    def synthesis(self, ritual: RitualView, responses: list[ResponseView]) -> str:
        lines = [heading(ritual, responses)]
        for marker, title in (*GROUPS, ("", "💬 Other thoughts")):
            items = [r for r in responses if group_of(r.text) == marker]
            if items:
                lines.append(f"**{title}** ({len(items)})")
                lines.extend(
                    f"• {quote(r.text.lstrip()[1:] if marker else r.text)} — {author(r, ritual)}"
                    for r in items
                )
        lines.extend(footer(responses))
        return "\n".join(lines)


RETRO = Retro()
