"""Commands named in Hearth's replies, spelled with the prefix the person used.

Handlers write `/search …` once; on Matrix (`!search`) or a custom Slack prefix the reply
must name the command the way that person can type it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache


@lru_cache(maxsize=16)
def _pattern(names: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    # Not inside a URL or a path (`https://x/search`, `a/search`), and a whole name.
    return re.compile(rf"(?<![\w/.:~-])/({alternatives})(?![\w-])")


def respell(text: str, prefix: str, names: Iterable[str]) -> str:
    if prefix == "/":
        return text
    return _pattern(tuple(names)).sub(lambda m: prefix + m.group(1), text)
