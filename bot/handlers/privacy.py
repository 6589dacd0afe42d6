"""/forget-me: remove what Hearth keeps about the caller, after they confirm."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bot.commands.spec import Args, Command, Option, OptionType, Reply
from bot.context import CommandContext
from knowledge.pending import PendingStore
from knowledge.privacy import ForgetSummary, Privacy

CONFIRM_WINDOW_SECONDS = 600


PENDING_KIND = "forget-me"


def _summary(s: ForgetSummary) -> str:
    return (
        f"• {s.authored_insights} insight(s) you authored and {s.sources} message(s) of yours "
        f"will be deleted\n"
        f"• {s.curated_insights} insight(s) you captured from others stay, without your name\n"
        f"• your {s.identities} linked account(s) and your name will be removed"
    )


@dataclass(frozen=True)
class PrivacyCommands:
    privacy: Privacy
    pending: PendingStore  # the preview waits here for its confirm, for any instance

    async def forget_me(self, ctx: CommandContext, args: Args) -> Reply:
        if args.text("confirm") != "confirm":
            ctx_summary = await self.privacy.preview(ctx.member)
            await self.pending.put(
                PENDING_KIND,
                ctx.member.id,
                ctx.community.id,
                {},
                timedelta(seconds=CONFIRM_WINDOW_SECONDS),
            )
            return Reply(
                "This removes what Hearth keeps about you in this community:\n"
                f"{_summary(ctx_summary)}\n"
                f"It cannot be undone. To go ahead, send `{ctx.prefix}forget-me confirm` "
                f"within {CONFIRM_WINDOW_SECONDS // 60} minutes.",
                ephemeral=True,
                private=True,
            )
        if await self.pending.take(PENDING_KIND, ctx.member.id, ctx.community.id) is None:
            return Reply(
                f"Run `{ctx.prefix}forget-me` first to see what would be removed, then confirm.",
                ephemeral=True,
            )
        done = await self.privacy.forget(ctx.member)
        await self.pending.done(PENDING_KIND, ctx.member.id)
        return Reply(
            f"Done. Deleted {done.authored_insights} insight(s) and {done.sources} message(s); "
            f"anonymised {done.curated_insights} insight(s) you captured.",
            ephemeral=True,
            private=True,
        )


COMMAND = Command(
    name="forget-me",
    help="Delete or anonymise everything Hearth keeps about you (asks to confirm)",
    handler=PrivacyCommands.forget_me,
    options=(
        Option(
            "confirm",
            OptionType.WORD,
            "write 'confirm' after the preview",
            choices=("confirm",),
        ),
    ),
)
