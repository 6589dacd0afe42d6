"""The typed answer to "which community?" (Matrix DMs): any text gives a listed slug or
None, never an exception; a number, slug or name picks the one it names."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.direct import not_a_choice, numbered, typed_pick

OPTIONS = [("forge", "The Forge"), ("guild", "The Guild"), ("mill", "The Mill")]


@given(st.text(max_size=200))
def test_any_text_picks_a_listed_community_or_none(text: str) -> None:
    picked = typed_pick(OPTIONS, text)
    assert picked is None or picked in {slug for slug, _ in OPTIONS}
    if picked is None:
        sentence = not_a_choice(OPTIONS, text).text
        assert sentence.count("\n") == 0 and sentence.endswith("or one of forge, guild, mill.")


@given(st.sampled_from(range(len(OPTIONS))), st.sampled_from(["", " ", "  ", "."]))
def test_a_number_slug_or_name_picks_what_the_list_shows(index: int, around: str) -> None:
    slug, name = OPTIONS[index]
    listed = numbered(OPTIONS).splitlines()[index]
    assert listed == f"{index + 1}. {name} ({slug})"
    for answer in (str(index + 1), slug.upper(), name.lower(), f"  {name}  "):
        assert typed_pick(OPTIONS, f"{around}{answer}{around.strip()}") == slug


def test_numbers_outside_the_list_and_other_digits_pick_nothing() -> None:
    for answer in ("0", "4", "-1", "٣", "1 2", "99999999999999999999"):
        assert typed_pick(OPTIONS, answer) is None
