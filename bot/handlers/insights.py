"""/insight and its subcommands."""

from __future__ import annotations

from dataclasses import dataclass

from bot import formatting
from bot.assist.semantic import SemanticIndex
from bot.assist.service import Assist
from bot.capture import Capture, announce
from bot.commands.spec import Args, Command, Option, OptionType, Reply
from bot.context import CommandContext
from bot.events import ChatMessage, MessageRef
from bot.hashtags import split_hashtags
from knowledge.clock import Clock
from knowledge.errors import InvalidInput
from knowledge.insights import InsightStore
from knowledge.sharing import VISIBILITY_CHOICES, SharedKnowledge, parse_visibility
from knowledge.vocabulary import Role

ID = Option("id", OptionType.INTEGER, "the insight's number, e.g. 12", required=True)
VISIBILITY = Option(
    "visibility",
    OptionType.WORD,
    "community, constellation or public",
    required=True,
    choices=VISIBILITY_CHOICES,
)


def _target(ctx: CommandContext, args: Args) -> MessageRef | None:
    reference = args.text("message")
    if reference:
        ref = ctx.port.resolve_reference(reference, ctx.event.channel)
        if ref is None:
            raise InvalidInput(
                f"message:{reference} is not a message id or link from this channel."
            )
        return ref
    return ctx.event.target or ctx.event.reply_to


@dataclass(frozen=True)
class InsightCommands:
    insights: InsightStore
    sharing: SharedKnowledge
    assist: Assist
    clock: Clock
    semantic: SemanticIndex | None  # None: no semantic index to keep in step

    def _command_message(self, ctx: CommandContext) -> ChatMessage:
        """The message that carried the command; platforms without one get a stable stand-in."""
        if ctx.event.message is not None:
            return ctx.event.message
        return ChatMessage(
            ref=MessageRef(ctx.event.channel, f"command:{ctx.event.event_id}"),
            author=ctx.event.invoker,
            text=ctx.event.text,
            posted_at=self.clock.now(),
        )

    async def add(self, ctx: CommandContext, args: Args) -> Reply:
        text, tags = split_hashtags(args.text("text"))
        capture = Capture(self.insights)
        target = _target(ctx, args)
        if target is not None:
            result = await capture.message(
                ctx.community, ctx.member, ctx.port, target, title=text or None, tags=tags
            )
        else:
            result = await capture.own_words(
                ctx.community, ctx.member, self._command_message(ctx), text, tags
            )
        if result.created and self.semantic is not None:
            self.semantic.index_soon(ctx.community, [result.insight])
        text = await announce(result, self.assist, ctx.community, ctx.prefix)
        return Reply(text, ephemeral=not result.created)

    async def show(self, ctx: CommandContext, args: Args) -> Reply:
        insight = await self.insights.get(ctx.community.id, _id(args))
        return Reply(formatting.insight_card(insight), ephemeral=True)

    async def edit(self, ctx: CommandContext, args: Args) -> Reply:
        text, tags = split_hashtags(args.text("text"))
        insight = await self.insights.edit(
            ctx.community.id, _id(args), ctx.member, text, add_tags=tags
        )
        if self.semantic is not None:
            self.semantic.index_soon(ctx.community, [insight])
        return Reply(f"✏️ Updated.\n{formatting.insight_card(insight)}")

    async def retag(self, ctx: CommandContext, args: Args) -> Reply:
        _, tags = split_hashtags(args.text("tags"))
        words = [w for w in args.text("tags").split() if not w.startswith("#")]
        if words:
            raise InvalidInput(f"Write tags with '#', e.g. #{words[0]} (got {' '.join(words)!r}).")
        insight = await self.insights.retag(ctx.community.id, _id(args), ctx.member, tags)
        return Reply(f"🏷️ Insight #{insight.id} is now tagged {formatting.tag_list(insight.tags)}.")

    async def delete(self, ctx: CommandContext, args: Args) -> Reply:
        insight = await self.insights.delete(ctx.community.id, _id(args), ctx.member)
        return Reply(f"🗑️ Deleted insight #{insight.id} “{formatting.headline(insight)}”.")

    async def share(self, ctx: CommandContext, args: Args) -> Reply:
        visibility = parse_visibility(args.text("visibility"))
        old, new = await self.sharing.set_visibility(
            ctx.community.id, _id(args), ctx.member, visibility, self.clock.now()
        )
        if old == new:
            return Reply(f"Insight #{_id(args)} was already {new}.", ephemeral=True)
        meaning = {
            "community": "only this community can find it; siblings' copies keep just the credit",
            "constellation": "linked communities that share knowledge can find and adopt it",
            "public": "linked communities can find it, and it may appear in public exports",
        }[new]
        return Reply(f"🔭 Insight #{_id(args)} is now {new}: {meaning}.")

    async def adopt(self, ctx: CommandContext, args: Args) -> Reply:
        _, tags = split_hashtags(args.text("tags"))
        scope = await self.sharing.scope(ctx.community.id)
        result = await self.sharing.adopt(
            scope, ctx.member, _id(args), tuple(tags), self.clock.now()
        )
        insight = result.insight
        if not result.created:
            return Reply(f"Already adopted as insight #{insight.id}.", ephemeral=True)
        if self.semantic is not None:
            self.semantic.index_soon(ctx.community, [insight])
        return Reply(
            f"🌱 Adopted as insight #{insight.id}, credited to {insight.author_name} "
            f"({formatting.tag_list(insight.tags)}). Edits at the origin will show here."
        )


def _id(args: Args) -> int:
    value = args.integer("id")
    assert value is not None  # required option: the parser guarantees it
    return value


COMMAND = Command(
    name="insight",
    help="Capture an insight; show, edit, retag, delete, share or adopt one",
    default_subcommand="add",
    notes=(
        "/insight <text> captures the text. show, edit, retag, delete, share and adopt are "
        "subcommands only in lower case with the id right after them (/insight edit 12 "
        "New text); anything else, like `/insight Edit 1 file per commit`, is captured as "
        "text, and `/insight add …` always is.",
    ),
    subcommands=(
        Command(
            "add",
            "Capture your words, or the message you reply to or name, as an insight",
            InsightCommands.add,
            options=(
                Option("text", OptionType.TEXT, "the insight (trailing #tags become tags)"),
                Option(
                    "message", OptionType.MESSAGE, "a message id or link to capture", keyword=True
                ),
            ),
            examples=(
                "/insight Small PRs get better reviews #review",
                "/insight message:42 #onboarding",
            ),
        ),
        Command("show", "Show an insight", InsightCommands.show, options=(ID,)),
        Command(
            "edit",
            "Replace an insight's text (the old text is kept as a revision)",
            InsightCommands.edit,
            options=(ID, Option("text", OptionType.TEXT, "the new text", required=True)),
        ),
        Command(
            "retag",
            "Replace an insight's tags",
            InsightCommands.retag,
            options=(ID, Option("tags", OptionType.TEXT, "the new #tags", required=True)),
        ),
        Command("delete", "Delete an insight", InsightCommands.delete, options=(ID,)),
        Command(
            "share",
            "Who may find an insight: community, constellation or public",
            InsightCommands.share,
            options=(ID, VISIBILITY),
            permission=Role.CURATOR,
        ),
        Command(
            "adopt",
            "Keep a copy of a linked community's shared insight, with your own tags",
            InsightCommands.adopt,
            options=(ID, Option("tags", OptionType.TEXT, "#tags for your copy")),
            permission=Role.CURATOR,
        ),
    ),
)
