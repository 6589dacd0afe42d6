"""What the /ritual commands share: the kinds, durations and percentages as typed, and
the preview of a schedule's next times."""

from __future__ import annotations

import re
import zoneinfo
from datetime import datetime

from bot.commands.spec import Option, OptionType
from knowledge.errors import InvalidInput
from knowledge.rituals import NewRitual, RitualStore, RitualView
from knowledge.vocabulary import RitualKind
from scheduling.engine import schedule_of

_DURATION = re.compile(r"^(\d+)\s*(m|min|h|d)$")
KINDS = tuple(k.value for k in RitualKind)
EXAMPLE = "/ritual add reflection #general weekly on monday at 9:00"
NAME = Option("name", OptionType.WORD, "the ritual's name (see /ritual list)", required=True)


def parse_duration(raw: str, what: str) -> int:
    match = _DURATION.match(raw.strip().lower())
    if not match:
        raise InvalidInput(f"{what} should look like 90m, 12h or 2d (got {raw!r}).")
    value, unit = int(match.group(1)), match.group(2)
    minutes = value * {"m": 1, "min": 1, "h": 60, "d": 1440}[unit]
    if not 10 <= minutes <= 14 * 1440:
        raise InvalidInput(f"{what} must be between 10 minutes and 14 days.")
    return minutes


def reminder_percent(raw: str) -> int | None:
    if raw.lower() in ("off", "no", "none"):
        return None
    cleaned = raw.rstrip("%")
    if not cleaned.isdigit() or not 1 <= int(cleaned) <= 99:
        raise InvalidInput(
            f"remind: takes a percentage of the window (e.g. 80) or off (got {raw!r})."
        )
    return int(cleaned)


def preview(ritual: NewRitual | RitualView, now: datetime, viewer_zone: str | None = None) -> str:
    """The next five times, in the ritual's zone and, if it differs, the viewer's own."""
    times = schedule_of(ritual).next_times(now, 5)
    if not times:
        return "It will never fire."
    own = zoneinfo.ZoneInfo(viewer_zone) if viewer_zone and viewer_zone != ritual.timezone else None
    lines = []
    for t in times:
        line = f"  {t:%a %Y-%m-%d %H:%M} {t.tzname()}"
        if own is not None:
            mine = t.astimezone(own)
            line += f" (your time: {mine:%a %H:%M} {mine.tzname()})"
        lines.append(line)
    return f"Next times ({ritual.timezone}):\n" + "\n".join(lines)


async def viewer_zone(store: RitualStore, member_id: int) -> str | None:
    return (await store.preferences(member_id)).timezone


def describe_window(minutes: int) -> str:
    if minutes % 1440 == 0:
        return f"{minutes // 1440}d"
    return f"{minutes // 60}h" if minutes % 60 == 0 else f"{minutes}m"


def free_name(base: str, taken: list[str]) -> str:
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"
