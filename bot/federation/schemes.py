"""Which HTTP signature scheme to send to each remote server (by origin: scheme, host,
port), remembered by this process.

Draft-cavage is the default: it is what most of the fediverse verifies. RFC 9421 is used
for a server known to take it: its actor advertises it (FEP-844e: `generator.implements`
lists RFC 9421), or it sent this deployment a valid RFC 9421-signed request. If such a
server still answers an RFC 9421 delivery with 401 or 400, the delivery is sent again at
once with draft-cavage (the "double knock") and that origin stays on draft-cavage for the
life of the process. Per process on purpose: a wrong guess costs one extra request per
server per restart, and a server that upgrades is picked up at the next restart without a
stored verdict to clear.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

RFC9421 = "https://datatracker.ietf.org/doc/html/rfc9421"
CAVAGE, MESSAGE = "draft-cavage", "rfc9421"
LIMIT = 10_000  # origins remembered; beyond that the oldest verdicts are forgotten


def origin_of(url: str) -> str:
    """`https://host:port` of a URL (what a verdict is kept for); "" when it has none."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.netloc else ""


@dataclass(frozen=True)
class Verdict:
    scheme: str
    reason: str


def advertises_rfc9421(document: dict[str, Any]) -> bool:
    """Whether an actor document lists RFC 9421 among what its server implements."""
    places = [document, document.get("generator")]
    for place in places:
        if not isinstance(place, dict):
            continue
        implements = place.get("implements")
        for link in implements if isinstance(implements, list) else []:
            href = link.get("href") if isinstance(link, dict) else link
            if isinstance(href, str) and href.rstrip("/").startswith(RFC9421):
                return True
    return False


class Schemes:
    def __init__(self) -> None:
        self._known: dict[str, Verdict] = {}

    def scheme(self, origin: str) -> str:
        verdict = self._known.get(origin)
        return verdict.scheme if verdict is not None else CAVAGE

    def verdict(self, origin: str) -> Verdict | None:
        return self._known.get(origin)

    def supports(self, origin: str, reason: str) -> None:
        """Evidence that `origin` takes RFC 9421; a refusal seen before still wins."""
        if origin and origin not in self._known:
            self._remember(origin, Verdict(MESSAGE, reason))

    def refused(self, origin: str, reason: str) -> None:
        self._remember(origin, Verdict(CAVAGE, reason))

    def _remember(self, origin: str, verdict: Verdict) -> None:
        if len(self._known) >= LIMIT:
            for old in list(self._known)[: LIMIT // 10]:
                del self._known[old]
        self._known[origin] = verdict
