"""/search and /tags."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, time
from zoneinfo import ZoneInfo

from bot import formatting
from bot.assist.semantic import SemanticIndex
from bot.commands.spec import Args, Command, Option, OptionType, Reply
from bot.context import CommandContext
from bot.hashtags import split_hashtags
from knowledge.errors import InvalidInput
from knowledge.insights import InsightStore
from knowledge.search import SearchBackend, SearchQuery, parse_terms
from knowledge.sharing import SharedKnowledge, SharingScope
from knowledge.tags import normalize_tags
from knowledge.views import CommunityInfo

PAGE_SIZE = 5


@dataclass(frozen=True)
class PlannedSearch:
    query: SearchQuery
    described: str  # what was asked, in words, for the results' heading


MAX_PAGE = 1_000_000


def plan_search(args: Args, community: CommunityInfo, page_size: int = PAGE_SIZE) -> PlannedSearch:
    """Options and free text (#tags, @author, words) as one query; raises on bad input."""
    text, hashtags = split_hashtags(args.text("query"))
    words = text.split()
    mentioned = [w for w in words if w.startswith("@") and len(w) > 1]
    text = " ".join(w for w in words if w not in mentioned)
    terms = parse_terms(text)
    tags = normalize_tags([*args.many("tag"), *hashtags])
    author = next((a.lstrip("@") for a in (args.text("author"), *mentioned) if a), None)
    since = args.date("since")
    page = min(args.integer("page") or 1, MAX_PAGE)  # past the end either way; SQL-safe
    if terms.empty and not tags and not author and since is None:
        raise InvalidInput(
            "What should I look for? e.g. `/search code review tag:practice since:2026-01-01`"
        )
    start = None
    if since is not None:
        start = datetime.combine(since, time(), tzinfo=ZoneInfo(community.timezone))
    query = SearchQuery(
        community_id=community.id,
        terms=terms,
        tags=tags,
        author=author,
        since=start,
        limit=page_size,
        offset=(page - 1) * page_size,
    )
    parts = (
        f"“{text}”" if not terms.empty else "",
        " ".join(f"#{t}" for t in tags),
        f"by {author}" if author else "",
        f"since {since}" if since else "",
    )
    return PlannedSearch(query, " ".join(p for p in parts if p))


async def constellation_scope(
    sharing: SharedKnowledge, ctx: CommandContext, args: Args
) -> SharingScope | None:
    """The siblings to search too, for `scope:constellation`; None for this community only."""
    if args.text("scope") != "constellation":
        return None
    scope = await sharing.scope(ctx.community.id)
    if not scope.siblings:
        raise InvalidInput(
            "No linked community shares knowledge with this one yet: both stewards turn it on "
            f"with `{ctx.prefix}constellation share <community> on`."
        )
    return scope


SCOPE = Option(
    "scope",
    OptionType.WORD,
    "community (default) or constellation: also what linked communities share",
    keyword=True,
    choices=("community", "constellation"),
)


@dataclass(frozen=True)
class SearchCommands:
    backend: SearchBackend
    sharing: SharedKnowledge
    insights: InsightStore
    semantic: SemanticIndex | None  # None: full text only

    async def search(self, ctx: CommandContext, args: Args) -> Reply:
        joint_round = args.integer("round")
        if joint_round is not None:
            return await self._round(ctx, args, joint_round)
        planned = plan_search(args, ctx.community)
        scope = await constellation_scope(self.sharing, ctx, args)
        query = planned.query
        described = planned.described
        if scope is not None:
            query = replace(query, shared_from=scope.ids)
            described += " across the constellation"
        if self.semantic is not None:
            result = await self.semantic.search(self.backend, query, ctx.community)
        else:
            result = await self.backend.search(query)
        siblings = {s.community_id: s.name for s in scope.siblings} if scope else None
        text = formatting.search_results(result, described, PAGE_SIZE, siblings, ctx.prefix)
        return Reply(text, ephemeral=True)

    async def _round(self, ctx: CommandContext, args: Args, joint_round: int) -> Reply:
        """`/search round:<id>`: a joint round's insights side by side by community (this
        community's own, and what the others taking part shared with it)."""
        if args.text("query") or args.many("tag") or args.text("author") or args.date("since"):
            raise InvalidInput("round: lists a joint round's insights: use it on its own.")
        scope = await self.sharing.scope(ctx.community.id)
        found = await self.insights.rounds.of_round(joint_round, ctx.community.id, scope.ids)
        if not found:
            return Reply(
                f"No insights were kept from joint round {joint_round} here.", ephemeral=True
            )
        lines = [f"🌌 Insights from joint round {joint_round}:"]
        current = None
        for community, insight in found:
            if community != current:
                lines.append(f"**{community}**")
                current = community
            lines.append(f"• #{insight.id} {formatting.headline(insight)} — {insight.author_name}")
        return Reply("\n".join(lines), ephemeral=True)

    async def tags(self, ctx: CommandContext, args: Args) -> Reply:
        counts = await self.insights.tag_counts(ctx.community.id)
        return Reply(formatting.tag_counts(counts), ephemeral=True)


SEARCH = Command(
    name="search",
    help="Search the community's insights",
    handler=SearchCommands.search,
    strict_keywords=True,
    options=(
        Option("query", OptionType.TEXT, 'words, "exact phrases", -excluded, #tags, @author'),
        Option("tag", OptionType.WORD, "only insights with this tag", keyword=True, repeated=True),
        Option("author", OptionType.WORD, "only insights by this person", keyword=True),
        Option("since", OptionType.DATE, "only insights captured on or after", keyword=True),
        Option("page", OptionType.INTEGER, "which page of results", keyword=True, maximum=None),
        Option("round", OptionType.INTEGER, "a joint ritual round's insights", keyword=True),
        SCOPE,
    ),
    examples=('/search "pair programming" tag:practice since:2026-01-01', "/search review -draft"),
)

TAGS = Command(
    name="tags", help="List tags with how many insights use each", handler=SearchCommands.tags
)
