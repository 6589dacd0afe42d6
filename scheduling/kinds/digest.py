"""Digests: what the community captured since the last one, grouped by tag."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bot.formatting import link
from knowledge.rituals import ResponseView, RitualView
from knowledge.vocabulary import RitualKind
from scheduling.kinds import PromptInputs

PER_TAG = 8


@dataclass(frozen=True)
class Digest:
    kind: RitualKind = RitualKind.DIGEST
    default_window: timedelta = timedelta(0)
    collects_responses: bool = False

    def prompt(self, inputs: PromptInputs) -> str:
        own = self._own(inputs)
        if not inputs.from_constellation:
            return own
        lines = [own, "", f"🔭 **New from the constellation** ({len(inputs.from_constellation)})"]
        for community, insight in inputs.from_constellation[: PER_TAG * 2]:
            title = insight.title or " ".join(insight.body.split())[:80]
            lines.append(
                f"• “{title}” — {insight.author_name}, {community} · #{insight.id} · "
                f"{link(insight.permalink)}"
            )
        lines.append("Adopt one with /insight adopt <id>.")
        return "\n".join(lines)

    def _own(self, inputs: PromptInputs) -> str:
        since = f"{inputs.since:%Y-%m-%d}"
        if not inputs.new_insights:
            return f"📚 Digest: no new insights since {since}. Capture one with /insight or 💡."
        lines = [f"📚 Digest: {len(inputs.new_insights)} new insight(s) since {since}"]
        by_tag: dict[str, list[str]] = {}
        for insight in inputs.new_insights:
            title = insight.title or " ".join(insight.body.split())[:80]
            line = f"• “{title}” — {insight.author_name} · {link(insight.permalink)}"
            for tag in insight.tags or ("untagged",):
                by_tag.setdefault(tag, []).append(line)
        for tag in sorted(by_tag, key=lambda t: (-len(by_tag[t]), t)):
            items = by_tag[tag]
            lines.append(f"**#{tag}** ({len(items)})")
            lines.extend(items[:PER_TAG])
            if len(items) > PER_TAG:
                lines.append(f"… and {len(items) - PER_TAG} more: /search tag:{tag}")
        return "\n".join(lines)

    def synthesis(self, ritual: RitualView, responses: list[ResponseView]) -> str:
        return ""


DIGEST = Digest()
