"""What a person typed after /search, as words, phrases and exclusions.

Nothing typed here ever reaches a search engine's own syntax: each backend quotes
every term itself, so `'; DROP TABLE` or `NEAR(` are just words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from knowledge.errors import InvalidInput

_TOKEN = re.compile(r'(-?)"([^"]*)"|(\S+)')
MAX_QUERY_CHARS = 500
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Left out of an any-of-the-words search, where they would match nearly everything.
_STOP_WORDS_TEXT = """a about after again all also am an and any are as at be because been
    before being
    but by can could did do does doing down during each few for from further had has have
    having he her here hers him his how i if in into is it its itself just me more most my
    no nor not now of off on once only or other our ours out over own same she should so
    some such than that the their theirs them then there these they this those through to
    too under until up very was we were what when where which while who whom why will with
    would you your yours keep keeps get gets make makes way ways thing things"""
STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())


@dataclass(frozen=True)
class Terms:
    words: tuple[str, ...] = ()
    phrases: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.words or self.phrases)

    def websearch(self, match_any: bool = False) -> str:
        """The same terms in PostgreSQL's websearch_to_tsquery syntax."""
        wanted = [*self.words, *(f'"{p}"' for p in self.phrases)]
        joined = " or ".join(wanted) if match_any else " ".join(wanted)
        return " ".join([joined, *(f"-{e}" for e in self.excluded)])

    @property
    def content_words(self) -> tuple[str, ...]:
        """The words without the little ones ("what", "our", "from") that say nothing
        about an insight; all of them when nothing else is left."""
        kept = tuple(w for w in self.words if w.casefold() not in STOP_WORDS)
        return kept or self.words

    @property
    def relaxable(self) -> bool:
        """Worth retrying with any of the words: at least two of them carry meaning."""
        return len(self.content_words) >= 2


@dataclass(frozen=True)
class SearchQuery:
    community_id: int
    terms: Terms = field(default_factory=Terms)
    tags: tuple[str, ...] = ()
    author: str | None = None
    since: datetime | None = None
    limit: int = 10
    offset: int = 0
    match_any: bool = False  # any of the words (retrieval for /ask), not all of them
    # Any of the content words, phrases and -exclusions still exact: what a search that
    # found too little with every word falls back to (knowledge.search.ranked)
    relaxed: bool = False
    # Only these insights (the semantic leg's neighbours, fetched as hits); () = no limit
    only_ids: tuple[int, ...] = ()
    # Siblings whose *shared* insights join the results (see knowledge.sharing.SharingScope)
    shared_from: tuple[int, ...] = ()
    # The web garden: only `public` insights, of these communities when given (then they
    # replace `community_id` and `shared_from` as the scope)
    public_only: bool = False
    communities: tuple[int, ...] = ()


def _meaningful(term: str) -> bool:
    return any(ch.isalnum() for ch in term)


def parse_terms(text: str) -> Terms:
    text = _CONTROL.sub(" ", text)  # NUL and friends: never meant, and PostgreSQL refuses NUL
    if len(text) > MAX_QUERY_CHARS:
        raise InvalidInput(f"That search is too long: at most {MAX_QUERY_CHARS} characters.")
    if text.count('"') % 2:
        raise InvalidInput('A quote is not closed: write phrases as "exact words".')
    words: list[str] = []
    phrases: list[str] = []
    excluded: list[str] = []
    for negated, phrase, word in _TOKEN.findall(text):
        if phrase or (negated and not word):
            target = excluded if negated else phrases
            if _meaningful(phrase):
                target.append(" ".join(phrase.split()))
        elif word.startswith("-") and len(word) > 1:
            if _meaningful(word[1:]):
                excluded.append(word[1:])
        elif _meaningful(word):
            words.append(word)
    terms = Terms(tuple(words), tuple(phrases), tuple(excluded))
    if terms.empty and terms.excluded:
        raise InvalidInput(
            "Say what to look for, not only what to leave out: `/search review -draft`."
        )
    return terms
