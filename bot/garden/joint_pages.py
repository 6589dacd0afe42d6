"""Joint rituals on the garden, for signed-in members of the community only (404 for
anyone else): a joint round's insights side by side by community, and the constellation's
pulse as small plots. Both read through the same store calls as chat (`/search round:<id>`,
`/constellation pulse`), so the web shows nothing chat would not."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from bot.garden import svg
from bot.garden.pages import SCOPE, SIGNED, GardenPages, NotFoundPage, Page
from knowledge.garden import PublicCommunity
from knowledge.garden_auth import SignedIn
from knowledge.joint_rows import PulseRow
from knowledge.pulse import PULSE_DAYS, constellation_pulse
from knowledge.views import InsightView


@dataclass(frozen=True)
class RoundColumn:
    name: str
    slug: str  # where its insight pages live for this member
    insights: tuple[InsightView, ...]


@dataclass(frozen=True)
class PulsePlot:
    title: str  # "Insights captured"
    plot: svg.Plot
    names: tuple[str, ...]  # one per bar, in the plot's order
    values: tuple[str, ...]  # what each bar stands for, as the table shows it


class JointPages(GardenPages):
    """/c/<community>/round/<id> and /c/<community>/pulse."""

    def _member_of(self, community: PublicCommunity) -> SignedIn:
        signed: SignedIn | None = SIGNED.get()
        if signed is None or self._members is None or signed.community.id != community.id:
            raise NotFoundPage
        return signed

    async def round_page(
        self, request: web.Request, community: PublicCommunity, joint_round: int
    ) -> Page:
        self._member_of(community)
        scope = SCOPE.get()
        assert self._members is not None  # checked by _member_of
        siblings = scope.siblings if scope is not None else ()
        found = await self._members.insights.rounds.of_round(
            joint_round, community.id, [s.community_id for s in siblings]
        )
        if not found:
            raise NotFoundPage
        slugs = {s.community_id: s.slug for s in siblings} | {community.id: community.slug}
        columns: list[RoundColumn] = []
        for name, insight in found:
            if not columns or columns[-1].name != name:
                slug = slugs.get(insight.community_id, community.slug)
                columns.append(RoundColumn(name, slug, ()))
            last = columns[-1]
            columns[-1] = RoundColumn(last.name, last.slug, (*last.insights, insight))
        columns.sort(key=lambda c: c.slug != community.slug)  # theirs first, then by name
        return self.render(
            request,
            "joint_round.html.j2",
            title=f"Joint round {joint_round} · {community.name}",
            canonical=None,
            community=community,
            joint_round=joint_round,
            columns=columns,
        )

    async def pulse_page(self, request: web.Request, community: PublicCommunity) -> Page:
        self._member_of(community)
        assert self._members is not None
        rows = await constellation_pulse(
            self._members.pulse, self._members.links, community.id, self._clock.now()
        )
        return self.render(
            request,
            "pulse.html.j2",
            title=f"Constellation pulse · {community.name}",
            canonical=None,
            community=community,
            rows=rows,
            days=PULSE_DAYS,
            plots=pulse_plots(rows),
        )


def pulse_plots(rows: list[PulseRow]) -> list[PulsePlot]:
    """One small bar plot per measure, a bar per community (this one first)."""
    names = tuple(r.name for r in rows)
    plots = []
    for title, counts in (
        ("Insights captured", [r.captured for r in rows]),
        ("Insights shared", [r.shared for r in rows]),
        ("Adopted by other communities", [r.adopted for r in rows]),
        ("People who answered rituals", [r.participants for r in rows]),
    ):
        labels = [f" — {name}" for name in names]
        plots.append(
            PulsePlot(title, svg.weekly_bars(counts, labels), names, tuple(map(str, counts)))
        )
    percents = [round(100 * r.completion) for r in rows]
    plots.append(
        PulsePlot(
            "Ritual rounds answered",
            svg.rate_bars(percents, [f"% of {r.rounds} round(s) — {r.name}" for r in rows]),
            names,
            tuple(
                f"{r.answered_rounds} of {r.rounds} ({p}%)"
                for r, p in zip(rows, percents, strict=True)
            ),
        )
    )
    return plots
