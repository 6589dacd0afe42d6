"""/ritual answer, snooze, reminders, timezone, prompt: a member's own part in rituals."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.commands.spec import Args, Command, Option, OptionType, Reply
from bot.context import CommandContext
from bot.handlers.rituals.wording import KINDS, NAME
from knowledge.errors import InvalidInput
from knowledge.vocabulary import RitualKind, Role
from scheduling.service import Rituals


@dataclass(frozen=True)
class RitualMembers:
    rituals: Rituals

    async def answer(self, ctx: CommandContext, args: Args) -> Reply:
        ritual = await self.rituals.store.get(ctx.community.id, args.text("name"))
        if not ritual.anonymous:
            raise InvalidInput(f"{ritual.name} is not anonymous: reply in its thread instead.")
        if not ctx.event.direct:
            raise InvalidInput(
                "Send this to me in a direct message, so nobody sees who wrote it "
                "(what you write here carries your name)."
            )
        await self.rituals.answer_anonymously(
            ritual, ctx.member.id, f"direct:{ctx.event.event_id}", args.text("text")
        )
        return Reply(f"🙈 Thanks: your answer is in #{ritual.channel}, without your name.")

    async def snooze(self, ctx: CommandContext, args: Args) -> Reply:
        words = args.text("until").split()
        store = self.rituals.store
        if words == ["off"]:
            await store.set_preferences(ctx.member.id, snoozed_until=None)
            return Reply("🔔 Welcome back: reminders are on again for you.", ephemeral=True)
        if len(words) != 2 or words[0] != "until":
            raise InvalidInput("Write `/ritual snooze until 2026-12-24` or `/ritual snooze off`.")
        try:
            day = datetime.fromisoformat(words[1]).date()
        except ValueError:
            raise InvalidInput(
                f"until should be a date like 2026-12-24 (got {words[1]!r})."
            ) from None
        zone = zoneinfo.ZoneInfo(ctx.community.timezone)
        until = datetime.combine(day, datetime.min.time(), tzinfo=zone) + timedelta(days=1)
        if until <= self.rituals.clock.now():
            raise InvalidInput("That date has passed: pick a day in the future.")
        await store.set_preferences(ctx.member.id, snoozed_until=until)
        return Reply(
            f"😴 No ritual reminders for you until {day:%Y-%m-%d} (inclusive).", ephemeral=True
        )

    async def reminders(self, ctx: CommandContext, args: Args) -> Reply:
        on = args.text("state") == "on"
        await self.rituals.store.set_preferences(ctx.member.id, reminders=on)
        said = (
            "will name you in reminders while a round waits for your answer"
            if on
            else ("will not name you in reminders")
        )
        return Reply(f"OK: Hearth {said}.", ephemeral=True)

    async def quotes(self, ctx: CommandContext, args: Args) -> Reply:
        on = args.text("state") == "on"
        await self.rituals.store.set_preferences(ctx.member.id, quote_beyond=on)
        said = (
            "may quote your replies to joint rituals in the other communities taking part"
            if on
            else "quotes your replies to joint rituals only in this community"
        )
        return Reply(f"OK: Hearth {said}.", ephemeral=True)

    async def timezone(self, ctx: CommandContext, args: Args) -> Reply:
        zone = args.text("zone")
        try:
            zoneinfo.ZoneInfo(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise InvalidInput(
                f"{zone!r} is not a time zone; try one like Europe/Berlin."
            ) from None
        await self.rituals.store.set_preferences(ctx.member.id, timezone=zone)
        return Reply(f"🕰️ Your time zone is now {zone}.", ephemeral=True)

    async def prompt(self, ctx: CommandContext, args: Args) -> Reply:
        kind_word, _, text = args.text("text").partition(" ")
        if kind_word.lower() not in KINDS or not text.strip():
            raise InvalidInput("Write `/ritual prompt reflection What surprised you this week?`")
        if len(text) > 1000:
            raise InvalidInput("A prompt has at most 1,000 characters.")
        added = await self.rituals.store.add_prompt(
            ctx.community.id, RitualKind(kind_word.lower()), text.strip(), ctx.member.id
        )
        return Reply(
            "📝 Added to this community's prompts." if added else "That prompt is already there."
        )


def member_commands() -> tuple[Command, ...]:
    return (
        Command(
            "answer",
            "Answer an anonymous ritual privately (send it to me as a direct message)",
            RitualMembers.answer,
            options=(NAME, Option("text", OptionType.TEXT, "your answer", required=True)),
        ),
        Command(
            "snooze",
            "Pause your reminders (vacation mode)",
            RitualMembers.snooze,
            options=(Option("until", OptionType.TEXT, "until <date>, or off", required=True),),
        ),
        Command(
            "reminders",
            "Be named (or not) in reminders",
            RitualMembers.reminders,
            options=(
                Option("state", OptionType.WORD, "on or off", required=True, choices=("on", "off")),
            ),
        ),
        Command(
            "quotes",
            "Let joint rituals quote you in the other communities (off by default)",
            RitualMembers.quotes,
            options=(
                Option("state", OptionType.WORD, "on or off", required=True, choices=("on", "off")),
            ),
        ),
        Command(
            "timezone",
            "Set your own time zone",
            RitualMembers.timezone,
            options=(Option("zone", OptionType.WORD, "e.g. Europe/Berlin", required=True),),
        ),
        Command(
            "prompt",
            "Add a prompt to this community's library",
            RitualMembers.prompt,
            permission=Role.CURATOR,
            options=(Option("text", OptionType.TEXT, "<kind> <the question>", required=True),),
        ),
    )
