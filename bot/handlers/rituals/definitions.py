"""/ritual add, confirm, list, show, pause, resume, skip, run-now, edit, remove: what a
community's rituals are (curators change them; everyone may look)."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import timedelta

from bot.commands.spec import Args, Command, Option, OptionType, Reply
from bot.context import CommandContext
from bot.formatting import channel_label
from bot.handlers.rituals.joint import JointCommands
from bot.handlers.rituals.wording import (
    EXAMPLE,
    KINDS,
    NAME,
    describe_window,
    free_name,
    parse_duration,
    preview,
    reminder_percent,
    viewer_zone,
)
from knowledge.directory import Directory
from knowledge.errors import InvalidInput
from knowledge.pending import PendingStore
from knowledge.ritual_holds import UNINSTALLED
from knowledge.rituals import NewRitual, RitualView
from knowledge.vocabulary import RitualKind, Role
from scheduling.engine import schedule_of
from scheduling.kinds import behaviour
from scheduling.schedule import parse_schedule
from scheduling.service import Rituals

CONFIRM_WINDOW_SECONDS = 600
PENDING_KIND = "ritual"  # previews wait in the store (PendingStore), for any instance


@dataclass(frozen=True)
class RitualDefinitions:
    rituals: Rituals
    pending: PendingStore
    directory: Directory
    joint: JointCommands  # `constellation:` proposals and their confirm

    async def put_pending(self, ctx: CommandContext, ritual: NewRitual) -> None:
        await self.pending.put(
            PENDING_KIND,
            ctx.member.id,
            ctx.community.id,
            asdict(ritual),
            timedelta(seconds=CONFIRM_WINDOW_SECONDS),
        )

    async def take_pending(self, ctx: CommandContext) -> NewRitual | None:
        payload = await self.pending.take(PENDING_KIND, ctx.member.id, ctx.community.id)
        if payload is None:
            return None
        return NewRitual(**{**payload, "kind": RitualKind(payload["kind"])})

    async def add(self, ctx: CommandContext, args: Args) -> Reply:
        kind_word, _, rest = args.text("spec").partition(" ")
        if kind_word.lower() not in KINDS:
            raise InvalidInput(f"Start with a kind: {', '.join(KINDS)}. For example: {EXAMPLE}")
        kind = RitualKind(kind_word.lower())
        channel_word, _, rest = rest.strip().partition(" ")
        channel = ctx.port.resolve_channel(channel_word, ctx.event.channel)
        if channel is None:
            raise InvalidInput(f"Name the channel to post in, like #general or here. {EXAMPLE}")
        bound = await self.directory.community_for_channel(
            channel.platform, channel.space, channel.channel
        )
        if bound is None or bound.id != ctx.community.id:
            raise InvalidInput(
                f"{channel_label(channel.channel)} is not one of this community's channels."
            )
        schedule_text, _, prompt = rest.partition("|")
        now = self.rituals.clock.now()
        schedule = parse_schedule(schedule_text.strip(), ctx.community.timezone, now.date())
        behaviour_ = behaviour(kind)
        window = (
            parse_duration(args.text("window"), "window:")
            if args.text("window")
            else int(behaviour_.default_window.total_seconds() // 60)
        )
        existing = await self.rituals.store.names(ctx.community.id)
        name = args.text("name") or free_name(kind.value, existing)
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,40}", name):
            raise InvalidInput(
                "name: is lower-case letters, digits and '-', e.g. name:friday-retro"
            )
        new = NewRitual(
            name=name,
            kind=kind,
            platform=channel.platform,
            space=channel.space,
            channel=channel.channel,
            schedule_text=schedule.description or schedule_text.strip(),
            cron=schedule.cron,
            timezone=schedule.timezone,
            every_weeks=schedule.every_weeks,
            anchor=schedule.anchor.isoformat() if schedule.anchor else None,
            window_minutes=max(window, 1) if behaviour_.collects_responses else 1,
            reminder_percent=reminder_percent(args.text("remind")) if args.text("remind") else 80,
            prompt=prompt.strip() or None,
            anonymous=args.text("anonymous") == "yes",
            created_by_member_id=ctx.member.id,
        )
        if args.text("constellation"):
            return await self.joint.preview(ctx, new, args.text("constellation"))
        await self.put_pending(ctx, new)
        return Reply(
            f"Ritual **{name}** ({kind.value}) in {channel_label(channel.channel)}: "
            f"{new.schedule_text}, "
            f"replies collected for {describe_window(new.window_minutes)}.\n"
            f"{preview(new, now, await viewer_zone(self.rituals.store, ctx.member.id))}\n"
            f"Send `{ctx.prefix}ritual confirm` to save it.",
            ephemeral=True,
        )

    async def confirm(self, ctx: CommandContext, args: Args) -> Reply:
        proposed = await self.joint.confirm(ctx)
        if proposed is not None:
            return proposed
        new = await self.take_pending(ctx)
        if new is None:
            return Reply(f"Nothing to confirm: start with `{EXAMPLE}`.", ephemeral=True)
        ritual = await self.rituals.store.create(ctx.community.id, new)
        await self.pending.done(PENDING_KIND, ctx.member.id)
        self.rituals.changed(ritual)
        return Reply(f"✅ Ritual **{ritual.name}** saved: {ritual.schedule_text}.")

    async def list_(self, ctx: CommandContext, args: Args) -> Reply:
        rituals = await self.rituals.store.rituals(ctx.community.id)
        if not rituals:
            return Reply(f"No rituals yet. Try `{EXAMPLE}`.", ephemeral=True)
        now = self.rituals.clock.now()
        away = await self.rituals.store.away_spaces()
        lines = []
        for r in rituals:
            upcoming = schedule_of(r).next_times(now, 1)
            nxt = f"next {upcoming[0]:%a %Y-%m-%d %H:%M}" if upcoming and not r.paused else ""
            state = "paused" if r.paused else nxt
            if (r.platform, r.space) in away:
                state = f"held: {UNINSTALLED}" + (" (and paused)" if r.paused else "")
            lines.append(
                f"• **{r.name}** ({r.kind.value}) {channel_label(r.channel)}: "
                f"{r.schedule_text} — {state}"
            )
        return Reply("\n".join(lines), ephemeral=True)

    async def show(self, ctx: CommandContext, args: Args) -> Reply:
        store = self.rituals.store
        ritual = await store.get(ctx.community.id, args.text("name"))
        stats = await store.completion(ritual.id)
        lines = [
            f"**{ritual.name}** ({ritual.kind.value}) in {channel_label(ritual.channel)}: "
            f"{ritual.schedule_text}"
            + (" — paused" if ritual.paused else "")
            + (" — next round will be skipped" if ritual.skip_next else ""),
            *(
                [f"⏸️ Held: {UNINSTALLED}; nothing is posted there until it adds Hearth back."]
                if (ritual.platform, ritual.space) in await store.away_spaces()
                else []
            ),
            f"Window {describe_window(ritual.window_minutes)}, reminder "
            + (f"at {ritual.reminder_percent}%" if ritual.reminder_percent else "off")
            + (", anonymous" if ritual.anonymous else ""),
            f"Completion: {stats.answered_rounds}/{stats.rounds} rounds answered "
            f"({stats.rate:.0%}), {stats.responses} response(s) from {stats.participants} "
            f"member(s); {stats.missed} missed while offline",
        ]
        for round_ in await store.rounds(ritual.id, 5):
            status = round_.status.value + (" (late)" if round_.late else "")
            line = f"  {round_.scheduled_for:%Y-%m-%d %H:%M} UTC: {status}"
            if round_.last_error and round_.status.value == "pending":
                line += (
                    f" — posting failed {round_.attempts}×: {round_.last_error}; next try "
                    f"{round_.next_attempt_at:%H:%M} UTC"
                )
            lines.append(line)
        if not ritual.paused:
            now = self.rituals.clock.now()
            lines.append(preview(ritual, now, await viewer_zone(self.rituals.store, ctx.member.id)))
        return Reply("\n".join(lines), ephemeral=True)

    async def set_paused(self, ctx: CommandContext, name: str, paused: bool) -> RitualView:
        store = self.rituals.store
        ritual = await store.change((await store.get(ctx.community.id, name)).id, paused=paused)
        self.rituals.changed(ritual)
        return ritual

    async def pause(self, ctx: CommandContext, args: Args) -> Reply:
        ritual = await self.set_paused(ctx, args.text("name"), True)
        return Reply(f"⏸️ {ritual.name} is paused.")

    async def resume(self, ctx: CommandContext, args: Args) -> Reply:
        ritual = await self.set_paused(ctx, args.text("name"), False)
        return Reply(f"▶️ {ritual.name} is running again.")

    async def skip(self, ctx: CommandContext, args: Args) -> Reply:
        name = args.text("name").removeprefix("next ").strip()
        store = self.rituals.store
        ritual = await store.change((await store.get(ctx.community.id, name)).id, skip_next=True)
        upcoming = schedule_of(ritual).next_times(self.rituals.clock.now(), 1)
        when = f" ({upcoming[0]:%a %Y-%m-%d %H:%M})" if upcoming else ""
        return Reply(f"⏭️ The next round of {ritual.name}{when} will be skipped.")

    async def run_now(self, ctx: CommandContext, args: Args) -> Reply:
        ritual = await self.rituals.store.get(ctx.community.id, args.text("name"))
        round_ = await self.rituals.run_now(ritual)
        if round_ is None:
            return Reply("Could not post the prompt now; see /ritual show for the retry.")
        return Reply(f"▶️ Started a round of {ritual.name} now.", ephemeral=True)

    async def edit(self, ctx: CommandContext, args: Args) -> Reply:
        store = self.rituals.store
        ritual = await store.get(ctx.community.id, args.text("name"))
        changes: dict[str, object] = {}
        text = args.text("schedule")
        schedule_text, _, prompt = text.partition("|")
        if schedule_text.strip():
            now = self.rituals.clock.now()
            schedule = parse_schedule(schedule_text.strip(), ctx.community.timezone, now.date())
            changes.update(
                schedule_text=schedule.description or schedule_text.strip(),
                cron=schedule.cron,
                every_weeks=schedule.every_weeks,
                anchor=schedule.anchor.isoformat() if schedule.anchor else None,
            )
        if ritual.joint_id is not None and (schedule_text.strip() or args.text("window")):
            raise InvalidInput(
                f"{ritual.name} is part of joint ritual #{ritual.joint_id}: its schedule and "
                "window are the same in every community taking part."
            )
        if prompt.strip():
            changes["prompt"] = prompt.strip()
        if args.text("window"):
            changes["window_minutes"] = parse_duration(args.text("window"), "window:")
        if args.text("remind"):
            changes["reminder_percent"] = reminder_percent(args.text("remind"))
        if not changes:
            raise InvalidInput(
                "Say what to change: a new schedule, `| new prompt`, window:2d or remind:off."
            )
        ritual = await store.change(ritual.id, **changes)
        self.rituals.changed(ritual)
        window_text = describe_window(ritual.window_minutes)
        now = self.rituals.clock.now()
        return Reply(
            f"✏️ {ritual.name}: {ritual.schedule_text}, window {window_text}.\n"
            f"{preview(ritual, now, await viewer_zone(self.rituals.store, ctx.member.id))}"
        )

    async def remove(self, ctx: CommandContext, args: Args) -> Reply:
        store = self.rituals.store
        ritual = await store.get(ctx.community.id, args.text("name"))
        await store.remove(ritual.id)
        self.rituals.removed(ritual.id)
        return Reply(f"🗑️ Removed ritual {ritual.name} and its history.")


WINDOW = Option(
    "window", OptionType.WORD, "how long replies are collected: 90m, 12h, 2d", keyword=True
)
REMIND = Option("remind", OptionType.WORD, "reminder at this % of the window, or off", keyword=True)


def definition_commands() -> tuple[Command, ...]:
    return (
        Command(
            "add",
            "Preview a new ritual (then /ritual confirm)",
            RitualDefinitions.add,
            permission=Role.CURATOR,
            options=(
                Option(
                    "spec",
                    OptionType.TEXT,
                    "<kind> <#channel> <schedule> [| prompt]",
                    required=True,
                ),
                Option("name", OptionType.WORD, "a name for it", keyword=True),
                WINDOW,
                REMIND,
                Option(
                    "anonymous",
                    OptionType.WORD,
                    "yes: responses shown without names",
                    keyword=True,
                    choices=("yes", "no"),
                ),
                Option(
                    "constellation",
                    OptionType.WORD,
                    "propose it as a joint ritual to linked communities: slugs, or all",
                    keyword=True,
                ),
            ),
            examples=(
                EXAMPLE,
                "/ritual add reflection here weekly on monday at 9:00 constellation:all",
                "/ritual add retro here every 2 weeks on friday 16:00 window:3d",
                "/ritual add digest #general fridays at 17:00",
                "/ritual add custom here first tuesday of the month | Show and tell!",
            ),
        ),
        Command(
            "confirm",
            "Save the ritual you previewed",
            RitualDefinitions.confirm,
            permission=Role.CURATOR,
        ),
        Command("list", "List this community's rituals", RitualDefinitions.list_),
        Command(
            "show",
            "Details, recent rounds and completion of a ritual",
            RitualDefinitions.show,
            options=(NAME,),
        ),
        Command(
            "pause",
            "Pause a ritual",
            RitualDefinitions.pause,
            options=(NAME,),
            permission=Role.CURATOR,
        ),
        Command(
            "resume",
            "Resume a paused ritual",
            RitualDefinitions.resume,
            options=(NAME,),
            permission=Role.CURATOR,
        ),
        Command(
            "skip",
            "Skip a ritual's next round",
            RitualDefinitions.skip,
            options=(
                Option(
                    "name",
                    OptionType.TEXT,
                    "the ritual ('next <name>' works too)",
                    required=True,
                ),
            ),
            permission=Role.CURATOR,
        ),
        Command(
            "run-now",
            "Start a round now",
            RitualDefinitions.run_now,
            options=(NAME,),
            permission=Role.CURATOR,
        ),
        Command(
            "edit",
            "Change schedule, prompt, window or reminder",
            RitualDefinitions.edit,
            permission=Role.CURATOR,
            options=(
                NAME,
                Option("schedule", OptionType.TEXT, "new schedule [| new prompt]"),
                WINDOW,
                REMIND,
            ),
        ),
        Command(
            "remove",
            "Remove a ritual",
            RitualDefinitions.remove,
            options=(NAME,),
            permission=Role.CURATOR,
        ),
    )
