"""/relay: send a thread to linked communities; see and fix how relays are doing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from urllib.parse import urlsplit

from bot.commands.spec import Args, Command, Option, OptionType, Reply
from bot.context import CommandContext
from bot.events import MessageRef
from bot.port import HOST_DOWN, TargetGone
from bot.relay.service import Relays
from knowledge.errors import InvalidInput, NotFound
from knowledge.federation_links import PLATFORM
from knowledge.outbox_reports import LaneHealth
from knowledge.vocabulary import LinkStatus, Role


def _thread_root(ctx: CommandContext) -> MessageRef:
    event = ctx.event
    if event.reply_to is not None:
        ref = event.reply_to
        return MessageRef(ref.channel, ref.thread_id or ref.message_id)
    if event.target is not None:
        ref = event.target
        return MessageRef(ref.channel, ref.thread_id or ref.message_id)
    if event.message is not None and event.message.ref.thread_id:
        ref = event.message.ref
        return MessageRef(ref.channel, ref.thread_id or ref.message_id)
    raise InvalidInput(
        f"Use {ctx.prefix}relay inside a thread, or as a reply to the message that starts "
        "the conversation to relay."
    )


@dataclass(frozen=True)
class RelayCommands:
    relays: Relays

    async def relay(self, ctx: CommandContext, args: Args) -> Reply:
        relays = self.relays
        wanted = args.text("to").strip()
        if wanted.lower().startswith("to "):
            wanted = wanted[3:].strip()
        links = [
            link
            for link in await relays.links.links_of(ctx.community.id)
            if link.other(ctx.community.id) is not None
        ]
        if wanted and wanted.lower() != "all":
            links = [await relays.links.find(ctx.community.id, wanted)]
        root = _thread_root(ctx)
        try:
            thread = await ctx.port.fetch_thread(root)
        except TargetGone:
            raise NotFound("I can't find that thread any more.") from None
        started = await relays.relay_thread(ctx.community, thread, links)
        names = ", ".join(f"**{n}**" for n in started.targets)
        return Reply(
            f"🛰️ Relaying this thread to {names}: {started.queued} message(s) queued; replies, "
            "edits and deletions follow both ways."
        )

    async def status(self, ctx: CommandContext, args: Args) -> Reply:
        relays = self.relays
        links = await relays.links.links_of(ctx.community.id)
        if not links:
            return Reply("This community has no links: nothing is relayed.", ephemeral=True)
        health = await relays.outbox.health([link.id for link in links])
        own = await relays.outbox.link_deliveries([link.id for link in links])
        lines = []
        for link in links:
            other = link.other(ctx.community.id)
            if other is None:
                continue
            state = "paused" if link.paused else "active"
            if link.status != LinkStatus.ACTIVE:  # across deployments: not confirmed yet
                state = "waiting for them to confirm"
            # a community of another deployment is named with its host
            label = f"**{other.name}**" + (f" ({other.slug})" if "@" in other.slug else "")
            lanes = [lane for lane in health if lane.link_id == link.id]
            queued = sum(lane.pending for lane in lanes)
            delivered = sum(lane.delivered for lane in lanes)
            parked = sum(lane.parked for lane in lanes)
            failed = sum(lane.failed for lane in lanes)
            line = (
                f"• {label} ({state}): {delivered} delivered, {queued} queued, "
                f"{parked} failing, {failed} dropped"
            )
            if link.id in own:
                sent = own[link.id]
                line += (
                    f"; link messages to their server: {sent.delivered} delivered, "
                    f"{sent.pending} queued, {sent.parked} failing"
                )
            reasons = set()
            for lane in lanes:
                if not lane.last_error or lane.last_error == "paused":
                    continue
                if waiting := _waiting(lane):
                    line += waiting
                else:
                    reasons.add(lane.last_error)
            if reasons:
                line += " — last error: " + "; ".join(sorted(reasons))
            if parked:
                line += f" (`{ctx.prefix}relay retry {other.slug}` sends them again)"
            lines.append(line)
        return Reply("**Relay status**\n" + "\n".join(lines), ephemeral=True)

    async def retry(self, ctx: CommandContext, args: Args) -> Reply:
        relays = self.relays
        wanted = args.text("community").strip()
        if wanted:
            links = [await relays.links.find(ctx.community.id, wanted)]
        else:
            links = await relays.links.links_of(ctx.community.id)
        count = await relays.outbox.retry_parked([link.id for link in links], relays.now())
        relays.wake.set()
        if not count:
            return Reply(
                "Nothing was failing: every relay is delivered or on its way.", ephemeral=True
            )
        return Reply(f"🔁 Trying {count} parked relay(s) again, in order.")


def _waiting(lane: LaneHealth) -> str:
    """Another deployment that is down: whom we wait for and since when (it is retried by
    itself for `[relay] remote_retry_hours`)."""
    if lane.platform != PLATFORM or not lane.pending or lane.waiting_since is None:
        return ""
    if not (lane.last_error or "").startswith(HOST_DOWN):
        return ""
    host = urlsplit(lane.channel).netloc or lane.channel
    since = lane.waiting_since.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    return f" — waiting for {host} since {since} UTC (retried by itself, in order)"


def relay_command() -> Command:
    return Command(
        name="relay",
        help="Relay this thread to linked communities; status and retry",
        subcommands=(
            Command(
                "thread",
                "Relay this thread (use in a thread or as a reply): to <community> or all",
                RelayCommands.relay,
                options=(Option("to", OptionType.TEXT, "to <community>, or all (default)"),),
            ),
            Command(
                "status",
                "Per-link health: delivered, queued, failing (with why)",
                RelayCommands.status,
            ),
            Command(
                "retry",
                "Send parked relays again",
                RelayCommands.retry,
                options=(Option("community", OptionType.TEXT, "only to this community"),),
                permission=Role.STEWARD,
            ),
        ),
        default_subcommand="thread",
        examples=("/relay", "/relay to rust-berlin", "/relay status"),
    )
