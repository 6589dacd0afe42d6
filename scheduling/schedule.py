"""The schedule language for rituals: what members type in chat, read into a cron line.

Members write `weekly on monday at 9:00`, `first tuesday of the month` or a cron line; we
store one normalised cron string plus an IANA zone, so firing times follow local wall-clock
time across daylight-saving changes (APScheduler's CronTrigger does the calendar work).
"Every 2 weeks" cannot be said in cron, so it is a week-parity filter on top. Anything we
cannot read is refused with a message and an example, never guessed at.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import islice
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

from knowledge.errors import InvalidInput

EXAMPLES = (
    "Try e.g. `weekly on monday at 9:00`, `daily at 17:30`, `every 2 weeks on friday 16:00`, "
    "`first tuesday of the month` or a cron line like `0 9 * * mon`."
)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_WEEKDAY_WORDS = {w: i for i, n in enumerate(DAY_NAMES) for w in (n.lower(), n[:3].lower())}
_WEEKDAY_WORDS |= {"tues": 1, "weds": 2, "thur": 3, "thurs": 3}
_ORDINAL_WORDS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "last": -1}
_POSITIONS = {1: "1st", 2: "2nd", 3: "3rd", 4: "4th", 5: "5th", -1: "last"}
_FILLER = {"at", "on", "the", "of", "every", "each", "and", "in"}
_TICK = timedelta(microseconds=1)
_FIELDS = ("minute", "hour", "day", "month", "day_of_week")  # crontab order
MAX_TEXT = 200  # characters: every schedule we can read fits in far fewer
MAX_EVERY_WEEKS = 52  # "every N weeks": at most once a year
HORIZON_YEARS = 50  # a schedule that does not fire within this never fires for us
_STEP_BUDGET = 10_000  # trigger steps per call: bounds the work of any lookup


def _invalid(message: str) -> InvalidInput:
    return InvalidInput(f"{message} {EXAMPLES}")


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _weekday(word: str) -> int | None:
    """'monday', 'mon', 'Mondays' -> 0; anything else -> None."""
    if word in _WEEKDAY_WORDS:
        return _WEEKDAY_WORDS[word]
    return _WEEKDAY_WORDS.get(word[:-1]) if word.endswith("s") else None


def _number(word: str) -> int | None:
    """A plain ASCII number of at most 4 digits, else None (no unicode digits such as
    '²' that int() refuses, no 5,000-digit numbers that int() takes ages over)."""
    return int(word) if re.fullmatch(r"[0-9]{1,4}", word) else None


def cron_trigger(cron: str, zone: ZoneInfo, end_date: datetime | None = None) -> CronTrigger:
    """The five crontab fields by name, as CronTrigger.from_crontab passes them, also
    accepting a day field such as `1st tue` / `last fri` (APScheduler's weekday-position
    expression contains a space, so from_crontab's split cannot carry it; we join it back).
    `end_date` bounds the search: without it a cron that never fires (`0 9 31 2 *`) makes
    APScheduler walk to the year 9999."""
    parts = cron.split()
    if len(parts) == 6 and parts[2] in _POSITIONS.values():
        parts[2:4] = [f"{parts[2]} {parts[3]}"]
    if len(parts) != 5:
        raise ValueError(f"expected 5 cron fields, got {len(parts)}")
    fields = dict(zip(_FIELDS, parts, strict=True))
    return CronTrigger(**fields, timezone=zone, end_date=end_date)


def _horizon(moment: datetime) -> datetime:
    """`moment` plus HORIZON_YEARS, clamped so the arithmetic never overflows."""
    limit = datetime(9000, 1, 1, tzinfo=UTC)
    moment = min(moment.astimezone(UTC), limit)
    return moment + timedelta(days=365 * HORIZON_YEARS)


@dataclass(frozen=True)
class Schedule:
    """When a ritual fires. `cron` is "minute hour day month day_of_week" with APScheduler
    semantics (day_of_week as mon..sun names; day and day_of_week must BOTH match); the day
    field may be a weekday position such as `1st tue` or `last fri`.

    Local wall-clock time rules: 09:00 stays 09:00 across DST. A time that does not exist on
    the spring-forward day (02:30 in Berlin on 2026-03-29) fires once, at the instant
    APScheduler computes for it (the wall time read with the winter offset: 03:30 summer
    time). A time that occurs twice on the fall-back day fires once, at its first occurrence
    (APScheduler alone would fire it twice)."""

    cron: str
    timezone: str
    every_weeks: int = 1
    anchor: date | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if self.every_weeks < 1:  # no upper bound here: rows saved before the parser's
            raise ValueError("every_weeks must be at least 1")  # 52 still load and run
        if self.every_weeks > 1 and self.anchor is None:
            raise ValueError("every_weeks > 1 needs an anchor date")

    def _fires(self, after: datetime) -> Iterator[datetime]:
        """Firing times strictly after `after`, in order, as aware local datetimes, up to
        HORIZON_YEARS ahead. A week outside "every N weeks" is jumped over in one step (to
        the Monday of the next week that counts), never walked through one firing at a time,
        and the whole walk has a step budget, so no schedule can keep a caller busy."""
        if after.tzinfo is None:
            raise ValueError("`after` must be timezone-aware")
        zone = ZoneInfo(self.timezone)
        trigger = cron_trigger(self.cron, zone, end_date=_horizon(after))
        previous: datetime | None = None
        now = after.astimezone(UTC) + _TICK
        for _ in range(_STEP_BUDGET):
            fire = trigger.get_next_fire_time(previous, now)
            if fire is None:
                return
            previous = now = fire
            local = fire.astimezone(UTC).astimezone(zone)  # a non-existent wall time -> real
            if local.fold == 1:  # second pass through the repeated hour: fired already
                continue
            off = self._week_index(local.date()) % self.every_weeks if self.every_weeks > 1 else 0
            if off:
                monday = local.date() - timedelta(days=local.weekday())
                try:
                    skip_to = monday + timedelta(weeks=self.every_weeks - off)
                except OverflowError:  # past the year 9999: never again
                    return
                previous, now = None, datetime.combine(skip_to, time(), zone).astimezone(UTC)
                continue
            yield local

    def _week_index(self, day: date) -> int:
        assert self.anchor is not None
        monday = day - timedelta(days=day.weekday())
        return (monday - (self.anchor - timedelta(days=self.anchor.weekday()))).days // 7

    def next_times(self, after: datetime, count: int = 5) -> list[datetime]:
        """The next `count` firing times strictly after `after`, in the schedule's zone."""
        return list(islice(self._fires(after), count))

    def latest_at_or_before(self, moment: datetime, not_before: datetime) -> datetime | None:
        """The most recent firing time t with not_before <= t <= moment (catch-up after
        downtime), or None. Scans growing windows back from `moment`, not the whole gap."""
        for days in (2, 9, 35, 400, None):
            start = not_before if days is None else max(not_before, moment - timedelta(days))
            latest = None
            for fire in self._fires(start - _TICK):
                if fire > moment:
                    break
                latest = fire
            if latest is not None or start == not_before:
                return latest
        return None


def parse_schedule(text: str, timezone: str, today: date) -> Schedule:
    """Read a member's schedule (words or a cron line). Raises InvalidInput, with an
    example, on anything it cannot read; `today` anchors "every N weeks"."""
    words = text.strip().lower()
    if not words:
        raise _invalid("The schedule is empty: say when the ritual should run.")
    if len(words) > MAX_TEXT:
        raise _invalid(f"That schedule is {len(words)} characters long; I read up to {MAX_TEXT}.")
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        msg = f"I don't know the time zone `{timezone}`; use a name like Europe/Berlin."
        raise _invalid(msg) from None
    tokens = words.split()
    if "*" in words or re.fullmatch(r"[\d/,-]+ [\d/,-]+( \S+){3,4}", " ".join(tokens)):
        return _parse_cron(tokens, timezone, zone, today)
    return _parse_words(words, timezone, today)


def _parse_cron(tokens: list[str], timezone: str, zone: ZoneInfo, today: date) -> Schedule:
    if len(tokens) == 6 and _weekday(tokens[3]) is not None:
        tokens[2:4] = [f"{tokens[2]} {WEEKDAYS[_weekday(tokens[3]) or 0]}"]
    if len(tokens) != 5:
        raise _invalid(
            f"A cron line has 5 fields (minute hour day month weekday); I see {len(tokens)}."
        )
    minute, hour, day, month, weekdays = tokens
    if _number(minute) is None:
        raise _invalid(
            f"`{minute}` in the minute field fires more than once an hour; "
            "rituals are not alarms, so use a single minute such as `0`."
        )
    cron = " ".join((minute, hour, day, month, _normalise_weekdays(weekdays)))
    start = datetime.combine(today, time(), zone)
    try:
        trigger = cron_trigger(cron, zone, end_date=_horizon(start))
        first = trigger.get_next_fire_time(None, start)
    except (ValueError, OverflowError) as exc:
        raise _invalid(f"I can't read the cron line `{' '.join(tokens)}`: {exc}.") from None
    if first is None:
        raise _invalid(
            f"The cron line `{' '.join(tokens)}` never fires (not in the next "
            f"{HORIZON_YEARS} years)."
        )
    return Schedule(cron, timezone, description=f"cron `{cron}` ({timezone})")


def _normalise_weekdays(field_text: str) -> str:
    """Crontab weekday field -> APScheduler names. Numbers follow crontab (0 and 7 are
    Sunday, 1 is Monday), not APScheduler 3's 0 = Monday, so `0 9 * * 1` means Monday."""
    chosen: set[int] = set()
    for item in field_text.split(","):
        match = re.fullmatch(r"(\*|\w+)(?:-(\w+))?(?:/(\d+))?", item)
        if match is None or (match[1] == "*" and match[2]):
            raise _invalid(f"I can't read the weekday field `{field_text}`.")
        first, last, step = match.groups()
        if step is not None and _number(step) is None:
            raise _invalid(f"I can't read `{item}` in the weekday field; write e.g. `mon-fri`.")
        if first == "*":
            low, high = 0, 6
        else:  # in crontab numbers, 0..7 from Sunday to Sunday
            low = _cron_weekday(first, field_text, end=False)
            high = _cron_weekday(last, field_text, end=True) if last else (7 if step else low)
        if low > high or step == "0":
            raise _invalid(f"I can't read `{item}` in the weekday field; write e.g. `mon-fri`.")
        chosen.update((n - 1) % 7 for n in range(low, high + 1, int(step or 1)))
    if len(chosen) == 7:
        return "*"
    mask = "".join("1" if d in chosen else "0" for d in range(7))  # runs of 3+ -> "mon-wed"
    spans = [(m.start(), m.end() - 1) for m in re.finditer(r"1{3,}|1", mask)]
    return ",".join(WEEKDAYS[a] + (f"-{WEEKDAYS[b]}" if b > a else "") for a, b in spans)


def _cron_weekday(value: str, field_text: str, end: bool) -> int:
    number = _number(value)
    if number is not None and number <= 7:
        return number
    weekday = _weekday(value)
    if weekday is None:
        raise _invalid(f"`{value}` in the weekday field `{field_text}` is not a weekday.")
    return 7 if weekday == 6 and end else (weekday + 1) % 7


def _parse_time(word: str) -> tuple[int, int] | None:
    """'9', '9:00', '09:00', '9am', '4:30pm', '16h', '16h30', 'noon' -> (hour, minute);
    None if the word is not shaped like a time; InvalidInput if it is an impossible one."""
    if word in ("noon", "midday", "midnight"):
        return (0, 0) if word == "midnight" else (12, 0)
    match = re.fullmatch(r"([0-9]{1,2})(?:[:.]([0-9]{2}))?(am|pm)?|([0-9]{1,2})h([0-9]{2})?", word)
    if match is None:
        return None
    hour = int(match[1] or match[4])
    minute = int(match[2] or match[5] or 0)
    if match[3]:
        if not 1 <= hour <= 12:
            raise _invalid(f"There is no {word}: with am/pm the hour goes from 1 to 12.")
        hour = hour % 12 + (12 if match[3] == "pm" else 0)
    if hour > 23 or minute > 59:
        raise _invalid(f"There is no {word}: hours go from 0 to 23, minutes from 00 to 59.")
    return hour, minute


def _parse_words(words: str, timezone: str, today: date) -> Schedule:
    words = re.sub(r"\b([ap])\.m\.?", r"\1m", words).replace("o'clock", " ")
    words = re.sub(r"(\d)\s+([ap]m)\b", r"\1\2", words)
    tokens = [t.strip(".!") for t in re.sub(r"[,;]", " ", words).split()]
    days: set[int] = set()
    daily = weekly = monthly = False
    every_weeks = 1
    month_day: int | None = None  # -1: the last day
    position: tuple[int, int] | None = None  # (nth or -1, weekday)
    at: tuple[int, int] | None = None
    i = 0
    while i < len(tokens):
        word, after = tokens[i], (tokens[i + 1] if i + 1 < len(tokens) else "")
        i += 1
        ordinal = re.fullmatch(r"([0-9]{1,2})(?:st|nd|rd|th)", word)
        number = _number(word) if word.isdigit() else None
        if word.isdigit() and number is None:
            too_big = re.fullmatch(r"[0-9]+", word) is not None
            if too_big and after in ("week", "weeks"):
                raise _invalid(f"`every {word[:12]}… weeks`: I repeat every 1 to 52 weeks.")
            raise _invalid(
                f"`{word[:12]}{'…' if len(word) > 12 else ''}` is "
                + ("too large a number for a schedule." if too_big else "not a number I can read.")
            )
        nth = int(ordinal[1]) if ordinal else _ORDINAL_WORDS.get(word)
        if word == "at" and (not after or _parse_time(after) is None):
            raise _invalid(f"I expected a time after `at`{f', not `{after}`' if after else ''}.")
        elif word in _FILLER:
            continue
        elif number is not None and after in ("week", "weeks"):
            every_weeks, i = number, i + 1
            if not 1 <= every_weeks <= MAX_EVERY_WEEKS:
                raise _invalid(
                    f"`every {word} weeks`: I repeat every 1 to {MAX_EVERY_WEEKS} weeks."
                )
        elif number is not None and re.fullmatch(r"(day|month|hour|minute|year)s?", after):
            raise _invalid(f"I can repeat every few weeks, but not every {word} {after}.")
        elif nth is not None or (
            number is not None and tokens[i - 2 : i - 1] in (["day"], ["the"])
        ):
            if nth is not None and _weekday(after) is not None:
                if nth not in _POSITIONS:
                    raise _invalid(f"No month has a {word} {after}.")
                position, i = (nth, _weekday(after) or 0), i + 1
                continue
            if after == "day":
                i += 1
            month_day = nth if nth is not None else number
            if month_day is None or not (1 <= month_day <= 31 or month_day == -1):
                raise _invalid(f"No month has a day {month_day}.")
        elif word == "day" and _number(after) is not None:
            continue  # "day 15": the number comes next
        elif (time_of_day := _parse_time(word)) is not None:
            if at is not None:
                raise _invalid("A ritual runs at one time of day; I found two.")
            at = time_of_day
        elif _weekday(word) is not None:
            days.add(_weekday(word) or 0)
        elif word in ("daily", "day", "days"):
            daily = True
        elif word in ("weekday", "weekdays", "workday", "workdays"):
            days.update(range(5))
        elif word in ("weekend", "weekends"):
            days.update((5, 6))
        elif word in ("weekly", "week", "weeks"):
            weekly = True
        elif word in ("biweekly", "fortnightly", "fortnight", "other"):
            every_weeks = 2
        elif word in ("monthly", "month", "months"):
            monthly = True
        else:
            raise _invalid(f"I don't understand the word `{word}`.")
    hour, minute = at or (9, 0)  # default: 09:00
    when = f"at {hour:02d}:{minute:02d} ({timezone})"
    if (position or month_day) and (days or weekly or daily or every_weeks > 1):
        raise _invalid("Pick either a day of the month or days of the week, not both.")
    if monthly and not (position or month_day):
        if days:
            raise _invalid("Which one in the month? e.g. `first monday of the month`.")
        month_day = 1
    if position:
        nth, weekday = position
        day, dow = f"{_POSITIONS[nth]} {WEEKDAYS[weekday]}", "*"
        which = "last" if nth == -1 else ("first", "second", "third", "fourth", "fifth")[nth - 1]
        description = f"on the {which} {DAY_NAMES[weekday]} of every month {when}"
    elif month_day:
        day, dow = ("last" if month_day == -1 else str(month_day)), "*"
        nth_day = "last day" if month_day == -1 else _ordinal(month_day)
        description = f"on the {nth_day} of every month {when}"
        if month_day >= 29:
            description += f"; months without a {_ordinal(month_day)} are skipped"
    elif days:
        day, dow = "*", _normalise_weekdays(",".join(WEEKDAYS[d] for d in days))
        names = [DAY_NAMES[d] for d in sorted(days)]
        listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        if days == set(range(5)):
            listed = "weekday (Monday to Friday)"
        period = "every" if every_weeks == 1 else f"every {every_weeks} weeks on"
        description = f"{period} {listed} {when}"
    elif daily and every_weeks == 1:
        day, dow, description = "*", "*", f"every day {when}"
    elif weekly or every_weeks > 1:
        raise _invalid("Which day of the week?")
    else:
        raise _invalid("How often should it run?")
    anchor = today if every_weeks > 1 else None
    return Schedule(f"{minute} {hour} {day} * {dow}", timezone, every_weeks, anchor, description)
