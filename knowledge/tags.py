"""What a tag is: one normalised spelling per community, so #Python and #python are one."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from knowledge.errors import InvalidInput

MAX_TAG_LENGTH = 48
MAX_TAGS_PER_INSIGHT = 20
_TAG = re.compile(r"^[\w][\w\-/.]*$")


def normalize_tag(raw: str) -> str:
    """Lower-cased NFKC without the leading '#'; raises InvalidInput with the rule broken."""
    name = unicodedata.normalize("NFKC", raw.strip()).lstrip("#").casefold()
    shown = f"#{raw.lstrip('#')}"
    if not name:
        raise InvalidInput("A tag needs a name after '#', for example #onboarding.")
    if len(name) > MAX_TAG_LENGTH:
        raise InvalidInput(
            f"Tag {shown} is too long: tags have at most {MAX_TAG_LENGTH} characters."
        )
    if not _TAG.match(name) or name.rstrip(".") != name:
        raise InvalidInput(
            f"Tag {shown} can only contain letters, digits, '-', '_', '/' and '.' "
            "and must start with a letter or digit, for example #code-review."
        )
    return name


def normalize_tags(raw: Iterable[str]) -> tuple[str, ...]:
    """Normalised, de-duplicated, in first-seen order."""
    seen: dict[str, None] = {}
    for tag in raw:
        seen.setdefault(normalize_tag(tag), None)
    return tuple(seen)


def check_tag_count(count: int) -> None:
    """Refuse more tags on one insight than anyone can read in a listing."""
    if count > MAX_TAGS_PER_INSIGHT:
        raise InvalidInput(
            f"An insight can have at most {MAX_TAGS_PER_INSIGHT} tags; this one would have "
            f"{count:,}. Keep the ones people will search for."
        )
