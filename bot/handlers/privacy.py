"""/forget-me: remove what Hearth keeps about the caller, after they confirm."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from bot.commands.spec import Args, Command, Option, OptionType, Reply
from bot.context import CommandContext
from knowledge.privacy import ForgetSummary

CONFIRM_WINDOW_SECONDS = 600


@dataclass
class PendingConfirmations:
    """Who asked for a preview, and when: a confirmation must follow its own preview."""

    asked: dict[int, float] = field(default_factory=dict)

    def ask(self, member_id: int) -> None:
        self.asked[member_id] = time.monotonic()

    def take(self, member_id: int) -> bool:
        asked = self.asked.pop(member_id, None)
        return asked is not None and time.monotonic() - asked <= CONFIRM_WINDOW_SECONDS


def _summary(s: ForgetSummary) -> str:
    return (
        f"• {s.authored_insights} insight(s) you authored and {s.sources} message(s) of yours "
        f"will be deleted\n"
        f"• {s.curated_insights} insight(s) you captured from others stay, without your name\n"
        f"• your {s.identities} linked account(s) and your name will be removed"
    )


def forget_me_command(pending: PendingConfirmations) -> Command:
    async def forget_me(ctx: CommandContext, args: Args) -> Reply:
        privacy = ctx.services.privacy
        if args.text("confirm") != "confirm":
            ctx_summary = await privacy.preview(ctx.member)
            pending.ask(ctx.member.id)
            return Reply(
                "This removes what Hearth keeps about you in this community:\n"
                f"{_summary(ctx_summary)}\n"
                f"It cannot be undone. To go ahead, send `{ctx.prefix}forget-me confirm` "
                f"within {CONFIRM_WINDOW_SECONDS // 60} minutes.",
                ephemeral=True,
            )
        if not pending.take(ctx.member.id):
            return Reply(
                f"Run `{ctx.prefix}forget-me` first to see what would be removed, then confirm.",
                ephemeral=True,
            )
        done = await privacy.forget(ctx.member)
        return Reply(
            f"Done. Deleted {done.authored_insights} insight(s) and {done.sources} message(s); "
            f"anonymised {done.curated_insights} insight(s) you captured.",
            ephemeral=True,
        )

    return Command(
        name="forget-me",
        help="Delete or anonymise everything Hearth keeps about you (asks to confirm)",
        handler=forget_me,
        options=(
            Option(
                "confirm",
                OptionType.WORD,
                "write 'confirm' after the preview",
                choices=("confirm",),
            ),
        ),
    )
