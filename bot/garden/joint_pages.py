"""Joint rituals on the garden: a joint round's insights side by side by community (public
ones for visitors; for the community's signed-in members what `/search round:<id>` lists
in chat), and the constellation's pulse as small plots for the community's signed-in
members only (404 for anyone else), read through the same call as `/constellation pulse`."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from bot.garden import svg
from bot.garden.pages import SCOPE, SIGNED, GardenPages, NotFoundPage, Page
from knowledge.garden import PublicCommunity
from knowledge.garden_auth import SignedIn
from knowledge.garden_rows import InsightCard
from knowledge.joint_rows import PulseRow
from knowledge.pulse import PULSE_DAYS, constellation_pulse
from knowledge.views import InsightView


@dataclass(frozen=True)
class RoundColumn:
    name: str
    slug: str  # where its insight pages live for this member
    insights: tuple[InsightView | InsightCard, ...]


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
        """Members of the community: their own insights from the round, what the siblings
        taking part share with them, and anyone's public ones. Anyone else: the round's
        public insights. 404 unless this community has one the viewer may see."""
        signed: SignedIn | None = SIGNED.get()
        columns: list[RoundColumn] = []
        if signed is not None and self._members is not None and signed.community.id == community.id:
            scope = SCOPE.get()
            siblings = scope.siblings if scope is not None else ()
            slugs = {s.community_id: s.slug for s in siblings} | {community.id: community.slug}
            found = await self._members.insights.rounds.of_round(
                joint_round, community.id, [s.community_id for s in siblings]
            )
            for name, insight in found:
                _add(columns, name, slugs.get(insight.community_id, community.slug), insight)
        seen = {i.id for c in columns for i in c.insights}
        for ref, card in await self._store.joint_round(joint_round):  # public: anyone's
            if card.id not in seen:
                _add(columns, ref.name, ref.slug, card)
        if all(c.slug != community.slug for c in columns):
            raise NotFoundPage
        columns.sort(key=lambda c: (c.slug != community.slug, c.name))  # theirs first
        public = signed is None or signed.community.id != community.id
        return self.render(
            request,
            "joint_round.html.j2",
            title=f"Joint round {joint_round} · {community.name}",
            canonical=f"/c/{community.slug}/round/{joint_round}" if public else None,
            community=community,
            joint_round=joint_round,
            columns=columns,
            public=public,
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


def _add(
    columns: list[RoundColumn], name: str, slug: str, insight: InsightView | InsightCard
) -> None:
    """Add to this community's column (a new one at the end if it has none yet)."""
    for index, column in enumerate(columns):
        if column.slug == slug:
            columns[index] = RoundColumn(name, slug, (*column.insights, insight))
            return
    columns.append(RoundColumn(name, slug, (insight,)))
