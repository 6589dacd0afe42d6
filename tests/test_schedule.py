"""The ritual schedule language: parsing, firing times across DST, every-N-weeks, catch-up."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.cron import CronTrigger  # type: ignore[import-untyped]

from knowledge.errors import InvalidInput
from scheduling.schedule import Schedule, parse_schedule

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
TODAY = date(2026, 1, 7)  # a Wednesday; 2026-01-01 is a Thursday
AFTER = datetime(2026, 1, 7, 12, 0, tzinfo=BERLIN)
EXAMPLE = "weekly on monday at 9:00"


def berlin(text: str, today: date = TODAY) -> Schedule:
    return parse_schedule(text, "Europe/Berlin", today)


def local(times: list[datetime]) -> list[str]:
    return [t.strftime("%a %Y-%m-%d %H:%M") for t in times]


def iso(times: list[datetime]) -> list[str]:
    return [t.isoformat() for t in times]


# --- every accepted form: normalised cron and the next five firing times ---------------------

FORMS = [
    (
        "0 9 * * MON",
        "0 9 * * mon",
        1,
        [
            "Mon 2026-01-12 09:00",
            "Mon 2026-01-19 09:00",
            "Mon 2026-01-26 09:00",
            "Mon 2026-02-02 09:00",
            "Mon 2026-02-09 09:00",
        ],
    ),
    (
        "30 16 * * fri",
        "30 16 * * fri",
        1,
        [
            "Fri 2026-01-09 16:30",
            "Fri 2026-01-16 16:30",
            "Fri 2026-01-23 16:30",
            "Fri 2026-01-30 16:30",
            "Fri 2026-02-06 16:30",
        ],
    ),
    (
        "0 9 1 * *",
        "0 9 1 * *",
        1,
        [
            "Sun 2026-02-01 09:00",
            "Sun 2026-03-01 09:00",
            "Wed 2026-04-01 09:00",
            "Fri 2026-05-01 09:00",
            "Mon 2026-06-01 09:00",
        ],
    ),
    (
        "0 * * * *",
        "0 * * * *",
        1,
        [
            "Wed 2026-01-07 13:00",
            "Wed 2026-01-07 14:00",
            "Wed 2026-01-07 15:00",
            "Wed 2026-01-07 16:00",
            "Wed 2026-01-07 17:00",
        ],
    ),
    (
        "daily at 9:00",
        "0 9 * * *",
        1,
        [
            "Thu 2026-01-08 09:00",
            "Fri 2026-01-09 09:00",
            "Sat 2026-01-10 09:00",
            "Sun 2026-01-11 09:00",
            "Mon 2026-01-12 09:00",
        ],
    ),
    (
        "every day at 17:30",
        "30 17 * * *",
        1,
        [
            "Wed 2026-01-07 17:30",
            "Thu 2026-01-08 17:30",
            "Fri 2026-01-09 17:30",
            "Sat 2026-01-10 17:30",
            "Sun 2026-01-11 17:30",
        ],
    ),
    (
        "weekdays at 9am",
        "0 9 * * mon-fri",
        1,
        [
            "Thu 2026-01-08 09:00",
            "Fri 2026-01-09 09:00",
            "Mon 2026-01-12 09:00",
            "Tue 2026-01-13 09:00",
            "Wed 2026-01-14 09:00",
        ],
    ),
    (
        "weekly on monday at 9:00",
        "0 9 * * mon",
        1,
        [
            "Mon 2026-01-12 09:00",
            "Mon 2026-01-19 09:00",
            "Mon 2026-01-26 09:00",
            "Mon 2026-02-02 09:00",
            "Mon 2026-02-09 09:00",
        ],
    ),
    (
        "every monday 9:00",
        "0 9 * * mon",
        1,
        [
            "Mon 2026-01-12 09:00",
            "Mon 2026-01-19 09:00",
            "Mon 2026-01-26 09:00",
            "Mon 2026-02-02 09:00",
            "Mon 2026-02-09 09:00",
        ],
    ),
    (
        "every 2 weeks on friday 16:00",
        "0 16 * * fri",
        2,
        [
            "Fri 2026-01-09 16:00",
            "Fri 2026-01-23 16:00",
            "Fri 2026-02-06 16:00",
            "Fri 2026-02-20 16:00",
            "Fri 2026-03-06 16:00",
        ],
    ),
    (
        "every other friday at 4pm",
        "0 16 * * fri",
        2,
        [
            "Fri 2026-01-09 16:00",
            "Fri 2026-01-23 16:00",
            "Fri 2026-02-06 16:00",
            "Fri 2026-02-20 16:00",
            "Fri 2026-03-06 16:00",
        ],
    ),
    (
        "biweekly on wednesday at 16h",
        "0 16 * * wed",
        2,
        [
            "Wed 2026-01-07 16:00",
            "Wed 2026-01-21 16:00",
            "Wed 2026-02-04 16:00",
            "Wed 2026-02-18 16:00",
            "Wed 2026-03-04 16:00",
        ],
    ),
    (
        "monthly on the 1st at 10:00",
        "0 10 1 * *",
        1,
        [
            "Sun 2026-02-01 10:00",
            "Sun 2026-03-01 10:00",
            "Wed 2026-04-01 10:00",
            "Fri 2026-05-01 10:00",
            "Mon 2026-06-01 10:00",
        ],
    ),
    (
        "first tuesday of the month",
        "0 9 1st tue * *",
        1,
        [
            "Tue 2026-02-03 09:00",
            "Tue 2026-03-03 09:00",
            "Tue 2026-04-07 09:00",
            "Tue 2026-05-05 09:00",
            "Tue 2026-06-02 09:00",
        ],
    ),
    (
        "last friday of the month at 15:00",
        "0 15 last fri * *",
        1,
        [
            "Fri 2026-01-30 15:00",
            "Fri 2026-02-27 15:00",
            "Fri 2026-03-27 15:00",
            "Fri 2026-04-24 15:00",
            "Fri 2026-05-29 15:00",
        ],
    ),
    (
        "every month on day 15",
        "0 9 15 * *",
        1,
        [
            "Thu 2026-01-15 09:00",
            "Sun 2026-02-15 09:00",
            "Sun 2026-03-15 09:00",
            "Wed 2026-04-15 09:00",
            "Fri 2026-05-15 09:00",
        ],
    ),
    (
        "monthly on the 31st at 10:00",
        "0 10 31 * *",
        1,
        [
            "Sat 2026-01-31 10:00",
            "Tue 2026-03-31 10:00",
            "Sun 2026-05-31 10:00",
            "Fri 2026-07-31 10:00",
            "Mon 2026-08-31 10:00",
        ],
    ),
    (
        "last day of the month",
        "0 9 last * *",
        1,
        [
            "Sat 2026-01-31 09:00",
            "Sat 2026-02-28 09:00",
            "Tue 2026-03-31 09:00",
            "Thu 2026-04-30 09:00",
            "Sun 2026-05-31 09:00",
        ],
    ),
    (
        "every monday and thursday at 4:30 pm",
        "30 16 * * mon,thu",
        1,
        [
            "Thu 2026-01-08 16:30",
            "Mon 2026-01-12 16:30",
            "Thu 2026-01-15 16:30",
            "Mon 2026-01-19 16:30",
            "Thu 2026-01-22 16:30",
        ],
    ),
]


@pytest.mark.parametrize(("text", "cron", "every_weeks", "expected"), FORMS)
def test_each_form_gives_its_cron_and_next_five_times(
    text: str, cron: str, every_weeks: int, expected: list[str]
) -> None:
    schedule = berlin(text)
    assert schedule.cron == cron
    assert schedule.timezone == "Europe/Berlin"
    assert schedule.every_weeks == every_weeks
    assert schedule.anchor == (TODAY if every_weeks > 1 else None)
    times = schedule.next_times(AFTER)
    assert local(times) == expected
    assert all(t.tzinfo == BERLIN for t in times)


@pytest.mark.parametrize(("text", "cron", "every_weeks", "expected"), FORMS)
def test_the_normalised_cron_reads_back_as_itself(
    text: str, cron: str, every_weeks: int, expected: list[str]
) -> None:
    assert berlin(cron).cron == cron


@pytest.mark.parametrize(
    ("spoken", "cron"),
    [
        ("9", "0 9 * * mon"),
        ("9:00", "0 9 * * mon"),
        ("09:00", "0 9 * * mon"),
        ("9am", "0 9 * * mon"),
        ("9 AM", "0 9 * * mon"),
        ("9 a.m.", "0 9 * * mon"),
        ("4:30 pm", "30 16 * * mon"),
        ("4pm", "0 16 * * mon"),
        ("16h", "0 16 * * mon"),
        ("16h30", "30 16 * * mon"),
        ("12am", "0 0 * * mon"),
        ("12pm", "0 12 * * mon"),
        ("noon", "0 12 * * mon"),
        ("midnight", "0 0 * * mon"),
        ("0:05", "5 0 * * mon"),
        ("23:59", "59 23 * * mon"),
    ],
)
def test_time_spellings(spoken: str, cron: str) -> None:
    assert berlin(f"every monday at {spoken}").cron == cron


@pytest.mark.parametrize(
    "text",
    [
        "WEEKLY On MONDAY At 9:00",
        "  weekly   on monday,  at 9:00 ",
        "Mondays 9am",
        "every Mon 09:00",
        "each monday at 9 o'clock",
        "weekly on monday at 9:00.",
    ],
)
def test_words_are_case_insensitive_and_flexible(text: str) -> None:
    assert berlin(text).cron == "0 9 * * mon"


def test_default_time_is_nine() -> None:
    assert berlin("first tuesday of the month").cron == "0 9 1st tue * *"
    assert berlin("every friday").cron == "0 9 * * fri"
    assert berlin("daily").cron == "0 9 * * *"


@pytest.mark.parametrize(
    ("text", "cron"),
    [
        ("0 9 * * 1", "0 9 * * mon"),  # crontab numbers: 1 is Monday (APScheduler 3 alone: Tuesday)
        ("0 9 * * 0", "0 9 * * sun"),
        ("0 9 * * 7", "0 9 * * sun"),
        ("0 9 * * 1-5", "0 9 * * mon-fri"),
        ("0 9 * * 6,0", "0 9 * * sat,sun"),
        ("0 9 * * 0-6", "0 9 * * *"),
        ("0 9 * * MON-FRI", "0 9 * * mon-fri"),
        ("0 9 * * mon,wed,thu,fri", "0 9 * * mon,wed-fri"),
        ("15 8 * jan-mar mon", "15 8 * jan-mar mon"),
        ("0 9 1st TUE * *", "0 9 1st tue * *"),
        ("0 */2 * * *", "0 */2 * * *"),
    ],
)
def test_cron_lines_are_normalised_to_weekday_names(text: str, cron: str) -> None:
    schedule = berlin(text)
    assert schedule.cron == cron
    assert schedule.description == f"cron `{cron}` (Europe/Berlin)"


def test_crontab_monday_fires_on_monday() -> None:
    assert local(berlin("0 9 * * 1").next_times(AFTER, 1)) == ["Mon 2026-01-12 09:00"]


@pytest.mark.parametrize(
    ("text", "description"),
    [
        ("weekly on monday at 9:00", "every Monday at 09:00 (Europe/Berlin)"),
        ("weekdays at 9am", "every weekday (Monday to Friday) at 09:00 (Europe/Berlin)"),
        (
            "every monday and thursday at 17:00",
            "every Monday and Thursday at 17:00 (Europe/Berlin)",
        ),
        ("every other friday at 4pm", "every 2 weeks on Friday at 16:00 (Europe/Berlin)"),
        ("daily at 7:05", "every day at 07:05 (Europe/Berlin)"),
        ("monthly on the 1st at 10:00", "on the 1st of every month at 10:00 (Europe/Berlin)"),
        (
            "first tuesday of the month",
            "on the first Tuesday of every month at 09:00 (Europe/Berlin)",
        ),
        (
            "last friday of the month at 15:00",
            "on the last Friday of every month at 15:00 (Europe/Berlin)",
        ),
        ("last day of the month", "on the last day of every month at 09:00 (Europe/Berlin)"),
        (
            "monthly on the 31st",
            "on the 31st of every month at 09:00 (Europe/Berlin); months without a 31st are skipped",
        ),
        (
            "every month on day 29",
            "on the 29th of every month at 09:00 (Europe/Berlin); months without a 29th are skipped",
        ),
    ],
)
def test_descriptions(text: str, description: str) -> None:
    assert berlin(text).description == description


def test_day_31_skips_short_months() -> None:
    times = berlin("monthly on the 31st").next_times(datetime(2026, 1, 31, 12, tzinfo=BERLIN), 3)
    assert local(times) == ["Tue 2026-03-31 09:00", "Sun 2026-05-31 09:00", "Fri 2026-07-31 09:00"]


def test_other_time_zone_is_used() -> None:
    schedule = parse_schedule("daily at 9:00", "America/New_York", TODAY)
    assert schedule.description == "every day at 09:00 (America/New_York)"
    [first] = schedule.next_times(datetime(2026, 1, 7, 12, tzinfo=UTC), 1)
    assert first.isoformat() == "2026-01-07T09:00:00-05:00"


# --- next_times contract ----------------------------------------------------------------------


def test_next_times_is_strictly_after() -> None:
    schedule = berlin("weekly on monday at 9:00")
    monday_nine = datetime(2026, 1, 12, 9, 0, tzinfo=BERLIN)
    assert local(schedule.next_times(monday_nine, 1)) == ["Mon 2026-01-19 09:00"]
    just_before = monday_nine - timedelta(microseconds=1)
    assert local(schedule.next_times(just_before, 1)) == ["Mon 2026-01-12 09:00"]


def test_next_times_accepts_any_zone_and_answers_in_the_schedules() -> None:
    schedule = berlin("weekly on monday at 9:00")
    times = schedule.next_times(datetime(2026, 1, 12, 7, 59, tzinfo=UTC), 2)  # 08:59 in Berlin
    assert iso(times) == ["2026-01-12T09:00:00+01:00", "2026-01-19T09:00:00+01:00"]


def test_next_times_count_and_naive_datetimes() -> None:
    schedule = berlin("daily at 9:00")
    assert schedule.next_times(AFTER, 0) == []
    assert len(schedule.next_times(AFTER, 12)) == 12
    with pytest.raises(ValueError, match="aware"):
        schedule.next_times(datetime(2026, 1, 7, 12))


def test_schedule_validates_every_weeks() -> None:
    with pytest.raises(ValueError):
        Schedule("0 9 * * mon", "Europe/Berlin", every_weeks=0)
    with pytest.raises(ValueError, match="anchor"):
        Schedule("0 9 * * mon", "Europe/Berlin", every_weeks=2)


# --- daylight saving time -------------------------------------------------------------------


def test_berlin_spring_forward_keeps_nine_local() -> None:
    times = berlin("weekly on sunday at 9:00").next_times(datetime(2026, 3, 21, tzinfo=BERLIN), 3)
    assert iso(times) == [
        "2026-03-22T09:00:00+01:00",  # 08:00 UTC
        "2026-03-29T09:00:00+02:00",  # change day (02:00 -> 03:00): 07:00 UTC
        "2026-04-05T09:00:00+02:00",
    ]
    assert [t.astimezone(UTC).hour for t in times] == [8, 7, 7]


def test_berlin_fall_back_keeps_nine_local() -> None:
    times = berlin("daily at 9:00").next_times(datetime(2026, 10, 24, tzinfo=BERLIN), 3)
    assert iso(times) == [
        "2026-10-24T09:00:00+02:00",
        "2026-10-25T09:00:00+01:00",  # change day (03:00 -> 02:00)
        "2026-10-26T09:00:00+01:00",
    ]
    assert [t.astimezone(UTC).hour for t in times] == [7, 8, 8]


def test_new_york_changes_keep_nine_local() -> None:
    schedule = parse_schedule("daily at 9:00", "America/New_York", TODAY)
    spring = schedule.next_times(datetime(2026, 3, 7, tzinfo=NEW_YORK), 2)
    assert iso(spring) == ["2026-03-07T09:00:00-05:00", "2026-03-08T09:00:00-04:00"]
    fall = schedule.next_times(datetime(2026, 10, 31, tzinfo=NEW_YORK), 2)
    assert iso(fall) == ["2026-10-31T09:00:00-04:00", "2026-11-01T09:00:00-05:00"]
    assert [t.astimezone(UTC).hour for t in spring + fall] == [14, 13, 13, 14]


def test_what_apscheduler_does_with_a_missing_wall_time() -> None:
    """02:30 does not exist in Berlin on 2026-03-29. APScheduler answers 02:30+01:00, the
    missing wall time read with the winter offset: the instant 01:30 UTC, i.e. 03:30 CEST."""
    trigger = CronTrigger.from_crontab("30 2 * * *", timezone=BERLIN)
    fire = trigger.get_next_fire_time(None, datetime(2026, 3, 29, tzinfo=BERLIN))
    assert fire.isoformat() == "2026-03-29T02:30:00+01:00"
    assert fire.astimezone(UTC).isoformat() == "2026-03-29T01:30:00+00:00"


@pytest.mark.parametrize(
    ("zone", "change_day", "expected"),
    [
        (
            "Europe/Berlin",
            date(2026, 3, 29),
            ["2026-03-28T02:30:00+01:00", "2026-03-29T03:30:00+02:00", "2026-03-30T02:30:00+02:00"],
        ),
        (
            "America/New_York",
            date(2026, 3, 8),
            ["2026-03-07T02:30:00-05:00", "2026-03-08T03:30:00-04:00", "2026-03-09T02:30:00-04:00"],
        ),
    ],
)
def test_a_0230_ritual_on_spring_forward_day_fires_once_an_hour_late(
    zone: str, change_day: date, expected: list[str]
) -> None:
    """Not lost, not doubled: it fires once, at 03:30 local (APScheduler's instant), shown as
    a real wall time."""
    schedule = parse_schedule("daily at 2:30", zone, TODAY)
    start = datetime.combine(change_day - timedelta(days=1), datetime.min.time(), ZoneInfo(zone))
    times = schedule.next_times(start, 3)
    assert iso(times) == expected
    assert [t.date() for t in times].count(change_day) == 1
    # and catching up just after 03:30 finds it
    latest = schedule.latest_at_or_before(times[1] + timedelta(minutes=5), start)
    assert latest == times[1]


def test_hourly_ritual_through_the_missing_hour() -> None:
    times = berlin("0 * * * *").next_times(datetime(2026, 3, 29, 0, 30, tzinfo=BERLIN), 3)
    assert iso(times) == [
        "2026-03-29T01:00:00+01:00",
        "2026-03-29T03:00:00+02:00",
        "2026-03-29T04:00:00+02:00",
    ]


@pytest.mark.parametrize(
    ("zone", "text", "day", "expected"),
    [
        ("Europe/Berlin", "daily at 2:30", date(2026, 10, 25), "2026-10-25T02:30:00+02:00"),
        ("America/New_York", "daily at 1:30", date(2026, 11, 1), "2026-11-01T01:30:00-04:00"),
    ],
)
def test_a_repeated_wall_time_fires_once_not_twice(
    zone: str, text: str, day: date, expected: str
) -> None:
    """On fall-back day the wall time occurs twice; APScheduler alone would fire both."""
    tz = ZoneInfo(zone)
    start = datetime.combine(day, datetime.min.time(), tz)
    trigger = CronTrigger.from_crontab(parse_schedule(text, zone, TODAY).cron, timezone=tz)
    first = trigger.get_next_fire_time(None, start)
    second = trigger.get_next_fire_time(first, first)
    assert first.replace(tzinfo=None) == second.replace(tzinfo=None)  # same wall time...
    assert second.astimezone(UTC) - first.astimezone(UTC) == timedelta(hours=1)  # ...an hour apart

    times = parse_schedule(text, zone, TODAY).next_times(start, 2)
    assert times[0].isoformat() == expected
    assert times[1].date() == day + timedelta(days=1)


# --- every N weeks ----------------------------------------------------------------------------


def test_every_two_weeks_skips_alternate_weeks_across_dst() -> None:
    schedule = berlin("every 2 weeks on monday at 9:00", today=date(2026, 3, 9))
    times = schedule.next_times(datetime(2026, 3, 9, tzinfo=BERLIN), 4)
    assert iso(times) == [
        "2026-03-09T09:00:00+01:00",
        "2026-03-23T09:00:00+01:00",
        "2026-04-06T09:00:00+02:00",
        "2026-04-20T09:00:00+02:00",
    ]
    assert {(b - a).days for a, b in pairwise(times)} == {14}


def test_every_two_weeks_counts_from_the_creation_week() -> None:
    # created on a Saturday: that week's Friday has passed, the next week is skipped
    schedule = berlin("every other friday at 16:00", today=date(2026, 1, 10))
    times = schedule.next_times(datetime(2026, 1, 10, 12, tzinfo=BERLIN), 2)
    assert local(times) == ["Fri 2026-01-23 16:00", "Fri 2026-02-06 16:00"]
    # weeks before the anchor follow the same parity
    earlier = schedule.next_times(datetime(2025, 12, 20, tzinfo=BERLIN), 2)
    assert local(earlier) == ["Fri 2025-12-26 16:00", "Fri 2026-01-09 16:00"]


def test_every_three_weeks_with_two_days() -> None:
    schedule = berlin("every 3 weeks on monday and thursday at 9:00")
    assert schedule.every_weeks == 3
    times = schedule.next_times(AFTER, 4)
    assert local(times) == [
        "Thu 2026-01-08 09:00",
        "Mon 2026-01-26 09:00",
        "Thu 2026-01-29 09:00",
        "Mon 2026-02-16 09:00",
    ]


# --- catch-up ---------------------------------------------------------------------------------


def test_latest_at_or_before() -> None:
    schedule = berlin("weekly on monday at 9:00")
    since = datetime(2026, 1, 1, tzinfo=BERLIN)
    moment = datetime(2026, 1, 14, 12, tzinfo=BERLIN)
    assert local([schedule.latest_at_or_before(moment, since) or AFTER]) == ["Mon 2026-01-12 09:00"]
    monday_nine = datetime(2026, 1, 12, 9, tzinfo=BERLIN)
    assert schedule.latest_at_or_before(monday_nine, since) == monday_nine  # inclusive
    assert schedule.latest_at_or_before(moment, monday_nine) == monday_nine  # inclusive
    after_it = monday_nine + timedelta(microseconds=1)
    assert schedule.latest_at_or_before(moment, after_it) is None
    assert schedule.latest_at_or_before(since, moment) is None  # empty window


def test_latest_at_or_before_over_long_gaps_and_zones() -> None:
    monthly = berlin("monthly on the 31st")
    moment = datetime(2026, 5, 15, 12, tzinfo=UTC)
    latest = monthly.latest_at_or_before(moment, datetime(2025, 1, 1, tzinfo=UTC))
    assert latest is not None and latest.isoformat() == "2026-03-31T09:00:00+02:00"
    leap_day = berlin("0 9 29 2 *")
    latest = leap_day.latest_at_or_before(moment, datetime(2020, 1, 1, tzinfo=UTC))
    assert latest is not None and latest.isoformat() == "2024-02-29T09:00:00+01:00"
    assert leap_day.latest_at_or_before(moment, datetime(2024, 3, 1, tzinfo=UTC)) is None


def test_latest_at_or_before_respects_every_weeks() -> None:
    schedule = berlin("every 2 weeks on friday 16:00")  # fires 01-09, 01-23, ...
    moment = datetime(2026, 1, 20, tzinfo=BERLIN)  # the 16th was skipped
    latest = schedule.latest_at_or_before(moment, datetime(2026, 1, 1, tzinfo=BERLIN))
    assert latest is not None and local([latest]) == ["Fri 2026-01-09 16:00"]


# --- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("every blursday at 9", "`blursday`"),
        ("weekly on monday at 9:00 sharp", "`sharp`"),
        ("every monday at 25:00", "25:00"),
        ("daily at 9:75", "9:75"),
        ("daily at 13pm", "13pm"),
        ("daily at 24:00", "24:00"),
        ("every monday at", "time after `at`"),
        ("every monday at soon", "`soon`"),
        ("every monday at 9 and 17:00", "one time of day"),
        ("*/15 * * * *", "more than once an hour"),
        ("0,30 9 * * *", "more than once an hour"),
        ("* 9 * * *", "more than once an hour"),
        ("0 9 * *", "5 fields"),
        ("0 9 * * * *", "5 fields"),
        ("60 9 * * *", "60"),
        ("0 9 32 * *", "32"),
        ("0 9 * * xyz", "`xyz`"),
        ("0 9 * * fri-mon", "fri-mon"),
        ("0 9 31 2 *", "never fires"),
        ("every 3 days", "every 3 days"),
        ("every 2 months on the 1st", "every 2 months"),
        ("every 0 weeks on monday", "0 weeks"),
        ("weekly at 9", "Which day"),
        ("every 2 weeks at 9", "Which day"),
        ("monthly on monday", "first monday of the month"),
        ("6th monday of the month", "6th monday"),
        ("monthly on the 32nd", "day 32"),
        ("daily on the 15th", "not both"),
        ("every other week on the 1st", "not both"),
        ("at 9", "How often"),
    ],
)
def test_refusals_say_what_and_give_an_example(text: str, says: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        berlin(text)
    assert says in caught.value.message
    assert EXAMPLE in caught.value.message


@pytest.mark.parametrize(
    "zone", ["Mars/Olympus_Mons", "europe/berlin", "Europe", "../etc/passwd", ""]
)
def test_unknown_time_zone_is_named(zone: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_schedule("daily at 9:00", zone, TODAY)
    assert f"`{zone}`" in caught.value.message
    assert EXAMPLE in caught.value.message


# --- bounded work: no schedule can keep the bot busy ------------------------------------------


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("every 99999999999 weeks on friday 16:00", "every 1 to 52 weeks"),
        ("every 53 weeks on friday 16:00", "every 1 to 52 weeks"),
        ("every " + "9" * 60 + " weeks on friday", "every 1 to 52 weeks"),
        ("daily at 9 " + "x" * 300, "up to 200"),
        ("the ² day", "not a number"),
        ("0 9 * * ²", "not a weekday"),
        ("0 9 * * */99999999999999", "weekday field"),
        ("0 9 30 2 mon", "never fires"),
    ],
)
def test_out_of_range_numbers_and_long_text_are_refused(text: str, says: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        berlin(text)
    assert says in caught.value.message


def test_every_52_weeks_previews_a_year_apart_without_walking_each_week() -> None:
    schedule = berlin("every 52 weeks on friday 16:00")
    times = schedule.next_times(AFTER, 5)
    assert local(times) == [
        "Fri 2026-01-09 16:00",
        "Fri 2027-01-08 16:00",
        "Fri 2028-01-07 16:00",
        "Fri 2029-01-05 16:00",
        "Fri 2030-01-04 16:00",
    ]
    latest = schedule.latest_at_or_before(times[3] + timedelta(days=300), AFTER)
    assert latest == times[3]


@pytest.mark.parametrize("every", [2, 3, 7, 52])
def test_every_n_weeks_jumps_agree_with_the_week_filter(every: int) -> None:
    """The arithmetic skip lands on exactly the firings a week-by-week filter keeps."""
    schedule = berlin(f"every {every} weeks on monday, thursday 8:00")
    weekly = berlin("weekly on monday, thursday 8:00")
    anchor = TODAY - timedelta(days=TODAY.weekday())
    expected = [
        t
        for t in weekly.next_times(AFTER, 2 * 52 * 7)
        if ((t.date() - anchor).days // 7) % every == 0
    ][:6]
    assert schedule.next_times(AFTER, 6) == expected


def test_a_stored_schedule_beyond_the_parsers_bound_still_answers_at_once() -> None:
    """Rows saved before every-N-weeks was bounded keep working; huge N just never recurs."""
    for every in (60, 1000, 99_999_999_999):
        schedule = Schedule("0 16 * * fri", "Europe/Berlin", every, TODAY)
        times = schedule.next_times(AFTER, 5)
        assert local(times[:1]) == ["Fri 2026-01-09 16:00"]
        assert all((b - a).days >= 7 * every for a, b in pairwise(times))
        moment = AFTER + timedelta(days=900)
        expected = max(t for t in times if t <= moment)
        assert schedule.latest_at_or_before(moment, AFTER) == expected
