"""/summarize and /ask: drafts a person accepts, answers grounded in stored insights."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from bot import formatting
from bot.assist.service import Assist, Draft
from bot.capture import source_of
from bot.commands.spec import Args, Command, Option, OptionType, Reply
from bot.context import CommandContext
from bot.events import MessageRef
from bot.handlers.search import SCOPE, constellation_scope
from bot.hashtags import split_hashtags
from bot.limits import Limits
from bot.port import TargetGone
from knowledge.errors import InvalidInput, NotFound
from knowledge.insights import InsightStore
from knowledge.pending import PendingStore
from knowledge.sharing import SharedKnowledge
from knowledge.views import SourceMessage

DRAFT_SECONDS = 1800


PENDING_KIND = "summary"


@dataclass(frozen=True)
class PendingDraft:
    """What `/summarize accept` needs of a draft, kept in the store so any instance can
    accept it (the thread is not fetched again)."""

    title: str
    summary: str
    tags: tuple[str, ...]
    authors: tuple[str, ...]
    permalinks: tuple[str, ...]
    source: SourceMessage

    @classmethod
    def of(cls, draft: Draft) -> PendingDraft:
        return cls(
            draft.title,
            draft.summary,
            draft.tags,
            draft.authors,
            draft.permalinks,
            source_of(draft.root),
        )

    def to_json(self) -> dict[str, Any]:
        source = asdict(self.source)
        if self.source.posted_at is not None:
            source["posted_at"] = self.source.posted_at.isoformat()
        return {**asdict(self), "source": source}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PendingDraft:
        source = dict(data["source"])
        if source.get("posted_at"):
            source["posted_at"] = datetime.fromisoformat(source["posted_at"])
        return cls(
            data["title"],
            data["summary"],
            tuple(data["tags"]),
            tuple(data["authors"]),
            tuple(data["permalinks"]),
            SourceMessage(**source),
        )


def _draft_text(draft: Draft, prefix: str) -> str:
    note = f" ({draft.note})" if draft.note else ""
    return (
        f"📝 Draft insight{note}:\n**{draft.title}**\n{draft.summary}\n"
        f"Tags: {formatting.tag_list(draft.tags)} · from {', '.join(draft.authors)}\n"
        f"Accept with `{prefix}summarize accept` (add #tags or a new title after it), "
        f"or ignore it: nothing is stored until you accept."
    )


@dataclass(frozen=True)
class AssistCommands:
    assist: Assist
    insights: InsightStore
    sharing: SharedKnowledge
    pending: PendingStore  # drafts wait here for their accept, for any instance
    limits: Limits  # model calls are rate limited per member

    async def summarize(self, ctx: CommandContext, args: Args) -> Reply:
        reference = args.text("message")
        root: MessageRef | None = ctx.event.target or ctx.event.reply_to
        if reference:
            root = ctx.port.resolve_reference(reference, ctx.event.channel)
            if root is None:
                raise InvalidInput(f"message:{reference} is not a message id or link here.")
        if root is None:
            raise InvalidInput(
                f"Reply to a thread's first message with `{ctx.prefix}summarize`, "
                f"or name it: `{ctx.prefix}summarize message:42`."
            )
        try:
            thread = await ctx.port.fetch_thread(root)
        except TargetGone:
            raise NotFound("I can't find that thread any more.") from None
        said = [m for m in thread if not m.text.startswith(ctx.prefix)]  # not the commands
        await self.limits.spend_model(ctx.member.id, ctx.prefix)
        draft = await self.assist.summarize(ctx.community, said)
        await self.pending.put(
            PENDING_KIND,
            ctx.member.id,
            ctx.community.id,
            PendingDraft.of(draft).to_json(),
            timedelta(seconds=DRAFT_SECONDS),
        )
        return Reply(_draft_text(draft, ctx.prefix), ephemeral=True)

    async def accept(self, ctx: CommandContext, args: Args) -> Reply:
        data = await self.pending.take(PENDING_KIND, ctx.member.id, ctx.community.id)
        if data is None:
            return Reply(f"No draft waiting: start with `{ctx.prefix}summarize`.", ephemeral=True)
        draft = PendingDraft.from_json(data)
        title, tags = split_hashtags(args.text("changes"))
        links = " ".join(draft.permalinks[:10])
        body = f"{draft.summary}\n\nFrom a thread by {', '.join(draft.authors)}: {links}".strip()
        result = await self.insights.capture(
            ctx.community.id,
            draft.source,
            curator=ctx.member,
            body=body[:4000],
            title=title or draft.title,
            tags=[*draft.tags, *tags],
        )
        await self.pending.done(PENDING_KIND, ctx.member.id)
        if not result.created:
            return Reply(formatting.already_captured(result.insight), ephemeral=True)
        return Reply(formatting.captured(result.insight))

    async def ask(self, ctx: CommandContext, args: Args) -> Reply:
        scope = await constellation_scope(self.sharing, ctx, args)
        await self.limits.spend_model(ctx.member.id, ctx.prefix)
        answer = await self.assist.answer(ctx.community, args.text("question"), scope)
        note = f"\n({answer.note})" if answer.note else ""
        return Reply(f"{answer.text}{note}", ephemeral=True)


def assist_commands() -> tuple[Command, Command]:
    summarize_command = Command(
        name="summarize",
        help="Draft an insight from a thread; you accept it before it is stored",
        subcommands=(
            Command(
                "thread",
                "Draft from the thread you reply to or name",
                AssistCommands.summarize,
                options=(
                    Option(
                        "message", OptionType.MESSAGE, "the thread's first message", keyword=True
                    ),
                ),
            ),
            Command(
                "accept",
                "Store your draft (optionally with #tags or a new title)",
                AssistCommands.accept,
                options=(Option("changes", OptionType.TEXT, "a new title and/or #tags"),),
            ),
        ),
        default_subcommand="thread",
    )
    ask_command = Command(
        name="ask",
        help="Ask a question answered only from this community's insights, with citations",
        handler=AssistCommands.ask,
        options=(Option("question", OptionType.TEXT, "your question", required=True), SCOPE),
        strict_keywords=True,
        examples=("/ask how do we keep retros useful?",),
    )
    return summarize_command, ask_command
