"""Joint rituals: a steward proposes a ritual to linked communities (`/ritual add …
constellation:<community>,…`), their stewards accept or decline it for their community
(`/constellation ritual accept|decline <id>`), and `/constellation pulse` shows how the
constellation is doing."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import timedelta

from bot.commands.spec import Args, Reply
from bot.context import CommandContext
from bot.formatting import channel_label
from bot.handlers.rituals.wording import describe_window
from bot.relay.service import Relays
from knowledge.directory import Directory
from knowledge.errors import InvalidInput, NotAllowed
from knowledge.joint_rows import JointView
from knowledge.links import Side
from knowledge.pending import PendingStore
from knowledge.rituals import NewRitual
from knowledge.vocabulary import JointStatus, LinkStatus, RitualKind, Role
from scheduling.service import Rituals

PENDING_KIND = "joint-ritual"
CONFIRM_WINDOW = timedelta(minutes=10)
PULSE_DAYS = 90
_TIME = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")

SHARED = (
    "At the close, every community taking part gets its own synthesis and a constellation "
    "synthesis: how many took part in each community, the themes (words and #tags) two or "
    "more communities shared, and quotes only from members who turned on `{p}ritual quotes "
    "on`. Replies stay in each community's own channel; anonymous answers are never quoted."
)


def parse_targets(text: str, linked: set[str]) -> list[str]:
    """`constellation:` as the slugs it names (`all`: every linked community)."""
    wanted = [w.strip().lower() for w in text.split(",") if w.strip()]
    chosen = sorted(linked) if wanted == ["all"] else list(dict.fromkeys(wanted))
    unknown = [w for w in chosen if w not in linked]
    if unknown or not chosen:
        shown = ", ".join(repr(w)[1:-1] for w in unknown[:5]) or "none named"
        raise InvalidInput(
            f"constellation: names linked communities ({', '.join(sorted(linked)) or 'none'}) "
            f"or all; not linked: {shown}."
        )
    return chosen


def parse_hour(text: str, zone: str) -> str | None:
    """`time:17:00` as the stored local hour ("17:00 Europe/Paris"); None when not given."""
    if not text:
        return None
    match = _TIME.fullmatch(text.strip())
    if match is None:
        raise InvalidInput(f"time: is an hour like 17:00 (got {text[:20]!r}).")
    return f"{int(match.group(1)):02d}:{match.group(2)} {zone}"


def _steward(ctx: CommandContext, what: str) -> None:
    if not ctx.member.role.at_least(Role.STEWARD):
        raise NotAllowed(f"Only stewards can {what}: joint rituals speak for the community.")


@dataclass(frozen=True)
class JointCommands:
    rituals: Rituals
    relays: Relays
    directory: Directory
    pending: PendingStore

    async def _linked(self, ctx: CommandContext) -> dict[str, Side]:
        """The communities linked with this one now, by slug."""
        found: dict[str, Side] = {}
        for link in await self.relays.links.links_of(ctx.community.id):
            other = link.other(ctx.community.id)
            if link.status == LinkStatus.ACTIVE and other is not None:
                found[other.slug] = other
        return found

    async def preview(self, ctx: CommandContext, new: NewRitual, targets: str) -> Reply:
        """`/ritual add … constellation:…`: what would be proposed, waiting for a confirm."""
        _steward(ctx, "propose joint rituals")
        if new.kind is RitualKind.DIGEST:
            raise InvalidInput("A digest has no replies to share: joint rituals ask a question.")
        linked = await self._linked(ctx)
        if not linked:
            raise InvalidInput(
                "This community is not linked with any other yet: "
                f"`{ctx.prefix}constellation invite` starts a link."
            )
        chosen = parse_targets(targets, set(linked))
        payload = {**asdict(new), "invite": [linked[s].community_id for s in chosen]}
        await self.pending.put(
            PENDING_KIND, ctx.member.id, ctx.community.id, payload, CONFIRM_WINDOW
        )
        names = ", ".join(linked[s].name for s in chosen)
        return Reply(
            f"🌌 Joint {new.kind.value} **{new.name}**, proposed to {names}: "
            f"{new.schedule_text} ({new.timezone}), replies collected for "
            f"{describe_window(new.window_minutes)}.\n{SHARED.format(p=ctx.prefix)}\n"
            f"Send `{ctx.prefix}ritual confirm` to propose it.",
            ephemeral=True,
        )

    async def confirm(self, ctx: CommandContext) -> Reply | None:
        """`/ritual confirm` of a joint proposal: saved, and each community told; None
        when no joint proposal was waiting."""
        payload = await self.pending.take(PENDING_KIND, ctx.member.id, ctx.community.id)
        if payload is None:
            return None
        invite = [int(i) for i in payload.pop("invite")]
        new = NewRitual(**{**payload, "kind": RitualKind(payload["kind"])})
        joint, ritual = await self.rituals.store.propose(ctx.community.id, new, invite)
        await self.pending.done(PENDING_KIND, ctx.member.id)
        self.rituals.changed(ritual)
        linked = {side.community_id: side for side in (await self._linked(ctx)).values()}
        for community_id in invite:
            if community_id in linked:
                await self.relays.announce(linked[community_id], self._proposal(ctx, joint))
        return Reply(
            f"✅ Joint ritual #{joint.id} **{joint.name}** proposed; it runs here "
            f"({channel_label(ritual.channel)}) and in each community whose steward accepts."
        )

    def _proposal(self, ctx: CommandContext, joint: JointView) -> str:
        prompt = f"“{joint.prompt}”" if joint.prompt else f"a {joint.kind.value} question"
        return (
            f"🌌 **{ctx.community.name}** proposes a joint {joint.kind.value} ritual "
            f"(#{joint.id}): {prompt}, {joint.schedule_text} ({joint.timezone}), replies "
            f"collected for {describe_window(joint.window_minutes)}.\n"
            f"{SHARED.format(p=ctx.prefix)}\nA steward accepts for this community with "
            f"`{ctx.prefix}constellation ritual accept {joint.id} channel:#channel "
            f"time:17:00` (your own hour within the window, optional) or declines with "
            f"`{ctx.prefix}constellation ritual decline {joint.id}`."
        )

    async def ritual(self, ctx: CommandContext, args: Args) -> Reply:
        """`/constellation ritual accept|decline <id> [channel:#x] [time:HH:MM]`, or list."""
        action = args.text("action")
        if action == "list":
            return await self._list(ctx)
        joint_id = args.integer("id")
        if joint_id is None:
            raise InvalidInput(
                f"Name the joint ritual: `{ctx.prefix}constellation ritual {action} <id>` "
                f"(see `{ctx.prefix}constellation ritual list`)."
            )
        _steward(ctx, f"{action} joint rituals")
        now = self.rituals.clock.now()
        store = self.rituals.store
        if action == "decline":
            await store.decide(joint_id, ctx.community.id, ctx.member.id, now, accept=False)
            for p in await store.participants(joint_id):
                if p.ritual_id is not None and p.community_id == ctx.community.id:
                    ritual = await store.by_id(p.ritual_id)
                    if ritual is not None:
                        self.rituals.changed(ritual)
            return Reply(
                f"🚫 This community does not take part in joint ritual #{joint_id}: nothing "
                "more is posted here for it, and nothing of this community is shared."
            )
        channel = self._channel(ctx, args.text("channel"))
        bound = await self.directory.community_for_channel(*channel)
        if bound is None or bound.id != ctx.community.id:
            raise InvalidInput(
                f"{channel_label(channel[2])} is not one of this community's channels."
            )
        local = parse_hour(args.text("time"), ctx.community.timezone)
        ritual = await store.decide(
            joint_id,
            ctx.community.id,
            ctx.member.id,
            now,
            accept=True,
            channel=channel,
            local_time=local,
        )
        assert ritual is not None
        self.rituals.changed(ritual)
        hour = f", posted at {args.text('time')} here" if local else ""
        return Reply(
            f"🌌 This community takes part in joint ritual #{joint_id} as **{ritual.name}** "
            f"in {channel_label(ritual.channel)}: {ritual.schedule_text} ({ritual.timezone})"
            f"{hour}. Replies stay here."
        )

    def _channel(self, ctx: CommandContext, text: str) -> tuple[str, str, str]:
        if not text:
            if ctx.event.direct:
                raise InvalidInput("Name the channel the prompts should go to: channel:#name.")
            here = ctx.event.channel
            return here.platform, here.space, here.channel
        found = ctx.port.resolve_channel(text, ctx.event.channel)
        if found is None:
            raise InvalidInput(f"channel: is a channel like #general or here (got {text!r}).")
        return found.platform, found.space, found.channel

    async def leave_link(self, community_id: int, other_id: int) -> int:
        """A link ended: the joint ritual parts between the two end for good."""
        ended = await self.rituals.store.leave_joints(community_id, other_id)
        for ritual in await self.rituals.store.rituals(community_id):
            if ritual.joint_id is not None:
                self.rituals.changed(ritual)
        return ended

    async def _list(self, ctx: CommandContext) -> Reply:
        store = self.rituals.store
        joints = await store.joints_of(ctx.community.id)
        if not joints:
            return Reply("No joint rituals were proposed to or by this community.", ephemeral=True)
        lines = []
        for joint, status in joints:
            parts = await store.participants(joint.id)
            owner = next((p.name for p in parts if p.community_id == joint.owner_community_id), "?")
            answers = ", ".join(f"{p.name} {p.status.value}" for p in parts)
            prompt = f" “{joint.prompt}”" if joint.prompt else ""
            todo = (
                f" — accept or decline: `{ctx.prefix}constellation ritual accept {joint.id}`"
                if status is JointStatus.INVITED
                else ""
            )
            lines.append(
                f"• #{joint.id} **{joint.name}** ({joint.kind.value}) by {owner}:{prompt} "
                f"{joint.schedule_text} ({joint.timezone}); {answers}{todo}"
            )
        return Reply("\n".join(lines), ephemeral=True)

    async def pulse(self, ctx: CommandContext, args: Args) -> Reply:
        """Per community (this one and those linked now), the last 90 days in numbers."""
        linked = await self._linked(ctx)
        ids = [
            ctx.community.id,
            *(s.community_id for s in sorted(linked.values(), key=lambda s: s.name)),
        ]
        since = self.rituals.clock.now() - timedelta(days=PULSE_DAYS)
        rows = await self.rituals.store.pulse(ids, since)
        header = ("community", "captured", "shared", "adopted", "rounds", "answered", "people")
        table = [header] + [
            (
                r.name,
                str(r.captured),
                str(r.shared),
                str(r.adopted),
                str(r.rounds),
                f"{r.answered_rounds} ({r.completion:.0%})",
                str(r.participants),
            )
            for r in rows
        ]
        widths = [max(len(row[i]) for row in table) for i in range(len(header))]
        lines = [
            "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in table
        ]
        return Reply(
            f"📈 Constellation pulse, last {PULSE_DAYS} days (adopted: by other communities; "
            "answered: ritual rounds with at least one reply):\n```\n" + "\n".join(lines) + "\n```",
            ephemeral=True,
        )
