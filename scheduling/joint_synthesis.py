"""The constellation synthesis: what a joint round found, across the communities taking
part, written for one of them.

Offline by default: participation per community, themes as the hashtags and keywords
that more than one community used, and quotes only from members who opted in to being
quoted beyond their community (never anonymous answers). A quote links to its source
only in its own community's copy: the others could not open it anyway. With assist
opted in by every community taking part, a model's narrative comes first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.assist.offline import keywords
from bot.formatting import link
from bot.hashtags import hashtags
from knowledge.errors import InvalidInput
from knowledge.joint_rows import Contribution, Voice
from knowledge.tags import normalize_tag
from scheduling.kinds.summary import quote

QUOTES_PER_COMMUNITY = 2
KEYWORDS_PER_COMMUNITY = 12
THEMES = 8


@dataclass(frozen=True)
class JointRoundText:
    name: str
    joint_round_id: int
    contributions: Sequence[Contribution]
    narrative: str | None = None  # a model's, when every community taking part opted in


def _themes_of(voices: Sequence[Voice]) -> set[str]:
    found: set[str] = set()
    for voice in voices:
        for raw in hashtags(voice.text):
            try:
                found.add("#" + normalize_tag(raw))
            except InvalidInput:
                continue
    text = " ".join(v.text for v in voices)
    found.update(k for k in keywords(text, KEYWORDS_PER_COMMUNITY) if "#" + k not in found)
    return found


def shared_themes(contributions: Sequence[Contribution]) -> list[tuple[str, list[str]]]:
    """Themes that two or more communities brought, most widely shared first."""
    where: dict[str, list[str]] = {}
    for c in contributions:
        for theme in _themes_of(c.voices):
            where.setdefault(theme, []).append(c.community_name)
    shared = [(t, sorted(names)) for t, names in where.items() if len(names) > 1]
    shared.sort(key=lambda item: (-len(item[1]), not item[0].startswith("#"), item[0]))
    return shared[:THEMES]


def constellation_synthesis(
    found: JointRoundText,
    viewer_community_id: int,
    permalink: Callable[[Contribution, Voice], str | None],
) -> str:
    """The text posted in the viewer's community; `permalink` is asked only for its own
    members' quotes."""
    parts = found.contributions
    total = sum(len(c.voices) for c in parts)
    lines = [
        f"🌌 Constellation synthesis of “{found.name}” (joint round {found.joint_round_id}): "
        f"{total} response(s) from {len(parts)} communities"
    ]
    if found.narrative:
        lines.append(found.narrative)
    taking = []
    for c in parts:
        if c.voices:
            taking.append(f"{c.community_name}: {c.people} member(s), {len(c.voices)} response(s)")
        else:
            taking.append(f"{c.community_name}: no responses")
    lines.append("Taking part: " + " · ".join(taking))
    themes = shared_themes(parts)
    if themes:
        lines.append(
            "Shared themes: " + " · ".join(f"{t} ({', '.join(names)})" for t, names in themes)
        )
    else:
        lines.append("Shared themes: none this time (no word or tag came up in two communities).")
    quotes = []
    for c in parts:
        for voice in [v for v in c.voices if v.quotable][:QUOTES_PER_COMMUNITY]:
            line = f"• “{quote(voice.text)}” — {voice.author_name}, {c.community_name}"
            if c.community_id == viewer_community_id:
                line += f" · {link(permalink(c, voice))}"
            quotes.append(line)
    if quotes:
        lines.append("Quoted with their permission:")
        lines.extend(quotes)
    lines.append(
        f"Insights kept from this round: /search round:{found.joint_round_id} · "
        "/ritual quotes on lets joint rituals quote you beyond this community."
    )
    return "\n".join(lines)
