"""What every synthesis shares: who took part, how many, the themes by tag."""

from __future__ import annotations

from collections import Counter

from bot.hashtags import hashtags
from knowledge.errors import InvalidInput
from knowledge.rituals import ANONYMOUS, ResponseView, RitualView
from knowledge.tags import normalize_tag

QUOTE_CHARS = 140
SYNTHESIS_ICON = "🧭"
KEEP_HINT = "React 💡 on any response to keep it as an insight."  # chat only


def author(response: ResponseView, ritual: RitualView) -> str:
    return ANONYMOUS if response.anonymous or ritual.anonymous else response.author_name


def late_note(late: bool) -> str:
    return " (a little late: I was offline when it was due)" if late else ""


def quote(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= QUOTE_CHARS else flat[: QUOTE_CHARS - 1] + "…"


def themes(responses: list[ResponseView]) -> str:
    counts: Counter[str] = Counter()
    for response in responses:
        for raw in hashtags(response.text):
            try:
                counts[normalize_tag(raw)] += 1
            except InvalidInput:
                continue
    return " · ".join(f"#{tag} ({n})" for tag, n in counts.most_common(8))


def heading(ritual: RitualView, responses: list[ResponseView]) -> str:
    if not responses:
        closed = "this round closed without responses. See you next time!"
        return f"{SYNTHESIS_ICON} {ritual.name}: {closed}"
    if ritual.anonymous:  # counted, never named
        shown = f"{len({r.respondent for r in responses})} member(s)"
    else:
        shown = ", ".join(sorted({author(r, ritual) for r in responses}))
    late = sum(1 for r in responses if r.late)
    late_note = f", {late} after closing" if late else ""
    closed = f"round closed with {len(responses)} response(s){late_note} from {shown}"
    return f"{SYNTHESIS_ICON} {ritual.name}: {closed}"


def footer(responses: list[ResponseView]) -> list[str]:
    lines = []
    found = themes(responses)
    if found:
        lines.append(f"Themes: {found}")
    if responses:
        lines.append(KEEP_HINT)
    return lines
