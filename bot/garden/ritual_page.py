"""A community's ritual history, for its signed-in members: rounds, completion per month
(an SVG plot), and each closed round's synthesis as chat showed it (without the model's
narrative, which is not kept). Anonymous answers arrive anonymised from the store."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from bot.garden import svg
from bot.garden.pages import SIGNED, GardenPages, NotFoundPage, Page
from knowledge.garden import PublicCommunity
from knowledge.garden_auth import SignedIn
from knowledge.ritual_history import RitualRecord, RoundRecord
from knowledge.vocabulary import RoundStatus
from scheduling.kinds import behaviour
from scheduling.kinds.summary import KEEP_HINT, SYNTHESIS_ICON


@dataclass(frozen=True)
class RitualShown:
    record: RitualRecord
    plot: svg.Plot
    answered: int  # rounds answered in the plotted months
    held: int
    syntheses: tuple[tuple[RoundRecord, str], ...]  # each shown round, its synthesis or ""


class RitualPages(GardenPages):
    """/c/<community>/rituals, for members of that community only (404 for anyone else)."""

    async def rituals_page(self, request: web.Request, community: PublicCommunity) -> Page:
        signed: SignedIn | None = SIGNED.get()
        if signed is None or self._members is None or signed.community.id != community.id:
            raise NotFoundPage
        records = await self._members.history.history(community.id, self._clock.now())
        return self.render(
            request,
            "rituals.html.j2",
            title=f"Rituals · {community.name}",
            canonical=None,
            community=community,
            rituals=[shown(record) for record in records],
        )


def shown(record: RitualRecord) -> RitualShown:
    months = record.months
    plot = svg.rate_bars(
        [round(100 * m.rate) for m in months],
        [
            f"% of {m.held} round(s) answered in {m.month}"
            if m.held
            else f"%: no rounds in {m.month}"
            for m in months
        ],
    )
    return RitualShown(
        record,
        plot,
        sum(m.answered for m in months),
        sum(m.held for m in months),
        tuple((r, synthesis(record, r)) for r in record.rounds),
    )


def synthesis(record: RitualRecord, round_: RoundRecord) -> str:
    """What the round's synthesis said in chat (the kind's own text), for closed rounds."""
    kind = behaviour(record.ritual.kind)
    if round_.status is not RoundStatus.CLOSED or not kind.collects_responses:
        return ""
    text = kind.synthesis(record.ritual, list(round_.responses))
    lines = [line for line in text.splitlines() if line != KEEP_HINT]
    if lines:  # the chat's compass icon: the page says what this is already
        lines[0] = lines[0].removeprefix(SYNTHESIS_ICON).lstrip()
    return "\n".join(lines)
