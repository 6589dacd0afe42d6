"""Neutral text for what Hearth says about insights (adapters render it per platform)."""

from __future__ import annotations

from collections.abc import Mapping

from knowledge.search import SearchPage
from knowledge.views import InsightView, TagCount

PREVIEW_CHARS = 80


def channel_label(channel: str) -> str:
    """`#general` for names and ids; a Matrix room id (`!…`) or alias (`#…`) as it is,
    since `#` before a room id would read as an alias on Matrix."""
    return channel if channel.startswith(("!", "#")) else f"#{channel}"


def tag_list(tags: tuple[str, ...] | list[str]) -> str:
    return " ".join(f"#{t}" for t in tags) if tags else "no tags"


def link(url: str | None, missing: str = "no link") -> str:
    """A URL as an autolink, so Markdown never reads its `_` or `*` as emphasis (Matrix room
    ids often hold underscores)."""
    if not url:
        return missing
    return f"<{url}>" if url.startswith(("https://", "http://")) else url


def headline(insight: InsightView) -> str:
    if insight.title:
        return insight.title
    first = " ".join(insight.body.split())
    return first if len(first) <= PREVIEW_CHARS else first[: PREVIEW_CHARS - 1] + "…"


def source_line(insight: InsightView) -> str:
    if insight.source_deleted:
        return "source message was deleted"
    return link(insight.permalink, "no link to the source")


def captured(insight: InsightView) -> str:
    return (
        f"💡 Captured insight #{insight.id} from {insight.author_name}: "
        f"“{headline(insight)}” ({tag_list(insight.tags)})\n{source_line(insight)}"
    )


def already_captured(insight: InsightView) -> str:
    return (
        f"Already captured as insight #{insight.id} “{headline(insight)}”: {source_line(insight)}"
    )


def insight_card(insight: InsightView) -> str:
    lines = [f"**Insight #{insight.id}**" + (f" — {insight.title}" if insight.title else "")]
    lines.append(insight.body)
    adopted = " · adopted" if insight.origin_credit else ""
    shared = "" if insight.visibility == "community" else f" · shared: {insight.visibility}"
    lines.append(
        f"by {insight.author_name} · captured by {insight.curator_name} · "
        f"{insight.created_at:%Y-%m-%d} · {tag_list(insight.tags)}{adopted}{shared}"
    )
    if insight.revisions:
        lines.append(
            f"edited {insight.revisions} time(s), last {insight.updated_at:%Y-%m-%d %H:%M} UTC"
        )
    lines.append(source_line(insight))
    return "\n".join(lines)


def search_results(
    page: SearchPage,
    described: str,
    page_size: int,
    siblings: Mapping[int, str] | None = None,
    prefix: str = "/",
) -> str:
    """`siblings`: community id → name, for results that come from a linked community."""
    pages = max(1, -(-page.total // page_size))
    more = "+" if page.capped else ""  # counting stopped: at least that many
    if not page.hits and page.total:
        return (
            f"There are only {pages} page(s) of results for {described} "
            f"({page.total}{more} insight(s)): try page:{pages}."
        )
    if not page.hits:
        return (
            f"No insights match {described}.\n"
            f"Try fewer or other words, or ask a question with `{prefix}ask`."
        )
    number = page.offset // page_size + 1
    lines = [f"🔎 {page.total}{more} insight(s) match {described} (page {number} of {pages}{more})"]
    for rank, hit in enumerate(page.hits, start=page.offset + 1):
        title = f"**{hit.title}** — " if hit.title else ""
        sibling = (siblings or {}).get(hit.community_id)
        where = f" (from **{sibling}**)" if sibling else ""
        why = " · ≈ similar meaning" if hit.matched == "meaning" else ""
        lines.append(
            f"{rank}. #{hit.insight_id}{where} {title}{hit.snippet}\n"
            f"   {hit.author_name} · {hit.created_at:%Y-%m-%d} · {tag_list(hit.tags)} · "
            f"{link(hit.permalink)}{why}"
        )
    if number < pages or (page.capped and page.hits):
        lines.append(f"More: add page:{number + 1}")
    return "\n".join(lines)


def tag_counts(counts: list[TagCount]) -> str:
    if not counts:
        return "No tags yet: add some with `/insight <text> #tag`."
    shown = " · ".join(f"#{c.name} ({c.count})" for c in counts)
    return f"{len(counts)} tag(s): {shown}"
