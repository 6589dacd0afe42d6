"""Assist without a model: extractive summaries and keyword tag suggestions.

Always available, and clearly labelled as such, so a community that opts out of (or has
no) endpoint still gets drafts, and a failing endpoint degrades instead of failing.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

_WORD = re.compile(r"[^\W\d_][\w'-]{2,}", re.UNICODE)
_STOPWORDS_TEXT = """
about above after again against all also and any are because been before being below
between both but can could did does doing down during each few for from further had
has have having her here hers herself him himself his how into its itself just like
more most much must not now off once only other our ours out over own same she should
some such than that the their theirs them then there these they this those through too
under until very was were what when where which while who whom why will with would you
your yours yourself i'm it's don't that's there's we're they're think really thing
things get got make made one two way well yes yeah okay lot lots maybe still even ever
every
"""
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())


def keywords(text: str, limit: int = 8) -> list[str]:
    words = [w.lower() for w in _WORD.findall(text)]
    counts = Counter(w for w in words if w not in STOPWORDS)
    return [w for w, _ in counts.most_common(limit)]


def suggest_tags(text: str, existing: Sequence[str], limit: int = 3) -> list[str]:
    """Existing tags the text mentions first, then its most frequent keywords."""
    lowered = text.lower()
    known = [t for t in existing if re.search(rf"(?<!\w){re.escape(t)}(?!\w)", lowered)]
    fresh = [k for k in keywords(text) if k not in known]
    return [*known, *fresh][:limit]


def _sentences(text: str) -> list[str]:
    parts = re.split(r"(?<=[.!?])\s+|\n+", text)
    return [p.strip() for p in parts if len(p.strip()) > 20]


def extractive_summary(texts: Sequence[str], max_sentences: int = 4) -> str:
    """The sentences that share the most keywords with the whole thread, in thread order."""
    joined = "\n".join(texts)
    weights = Counter(keywords(joined, limit=30))
    sentences = [s for t in texts for s in _sentences(t)]
    if not sentences:
        return " ".join(" ".join(texts).split())[:400]
    scored = sorted(
        range(len(sentences)),
        key=lambda i: -sum(weights[w.lower()] for w in _WORD.findall(sentences[i])),
    )
    chosen = sorted(scored[:max_sentences])
    return " ".join(sentences[i] for i in chosen)


def title_from(text: str, limit: int = 70) -> str:
    first = " ".join(text.split())
    cut = re.split(r"(?<=[.!?])\s", first, maxsplit=1)[0]
    return cut if len(cut) <= limit else cut[: limit - 1].rsplit(" ", 1)[0] + "…"
