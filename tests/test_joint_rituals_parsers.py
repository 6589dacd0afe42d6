"""What a steward types for joint rituals (`constellation:`, `time:`) and the local hour
it becomes: arbitrary text gives a value or one sentence, never anything else; a local
hour always lands inside the shared window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, available_timezones

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.handlers.rituals.joint import parse_hour, parse_targets
from knowledge.errors import UserError
from scheduling.joint import local_post_at

ONE_SECOND = settings(deadline=timedelta(seconds=1), max_examples=300)
LINKED = {"forge", "mill"}
ZONES = sorted(z for z in available_timezones() if "/" in z)[:400]
TEXT = st.one_of(
    st.text(max_size=200),
    st.lists(st.sampled_from(["forge", "mill", "all", "guild", ",", " ", "FORGE", "\x00"])).map(
        "".join
    ),
    st.from_regex(r"-?\d{1,3}:\d{1,3}", fullmatch=True),
)


@ONE_SECOND
@given(TEXT)
def test_constellation_targets_are_linked_slugs_or_one_sentence(text: str) -> None:
    try:
        chosen = parse_targets(text, LINKED)
    except UserError as exc:
        assert exc.message.startswith("constellation: names linked communities")
        return
    assert chosen and set(chosen) <= LINKED and len(chosen) == len(set(chosen))


@ONE_SECOND
@given(TEXT)
def test_a_local_hour_is_an_hour_of_the_day_or_one_sentence(text: str) -> None:
    try:
        found = parse_hour(text, "Asia/Tokyo")
    except UserError as exc:
        assert exc.message.startswith("time: is an hour like 17:00")
        return
    if found is None:
        assert text == ""
        return
    clock, zone = found.split(" ")
    hour, minute = (int(part) for part in clock.split(":"))
    assert 0 <= hour < 24 and 0 <= minute < 60 and zone == "Asia/Tokyo"


@ONE_SECOND
@given(
    st.datetimes(datetime(2000, 1, 1), datetime(2090, 1, 1), timezones=st.just(UTC)),
    st.integers(1, 60 * 24 * 14),
    st.integers(0, 23),
    st.integers(0, 59),
    st.sampled_from(ZONES),
)
def test_each_communitys_hour_falls_inside_the_shared_window(
    slot: datetime, window: int, hour: int, minute: int, zone: str
) -> None:
    closes = slot + timedelta(minutes=window)
    posted = local_post_at(f"{hour:02d}:{minute:02d} {zone}", slot, closes)
    assert slot <= posted < closes
    tz = ZoneInfo(zone)
    local = posted.astimezone(tz)
    shown = (local.hour, local.minute) == (hour, minute)
    day = timedelta(days=1)
    clocks_changed = (posted - day).astimezone(tz).utcoffset() != (posted + day).astimezone(
        tz
    ).utcoffset()  # that wall-clock hour may not exist (or exist twice) that day
    if window > 25 * 60:  # a window longer than a day always holds the community's hour
        assert shown or clocks_changed
    else:
        assert posted == slot or shown or clocks_changed
