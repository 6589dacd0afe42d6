"""/constellation: link with sibling communities (both stewards consent), pause, scope, leave."""

from __future__ import annotations

from dataclasses import dataclass

from bot.commands.spec import Args, Command, Option, OptionType, Reply
from bot.context import CommandContext
from bot.formatting import channel_label
from bot.handlers.cross_deployment import CrossDeployment, accept_across
from bot.handlers.insights import VISIBILITY
from bot.handlers.rituals.joint import JointCommands
from bot.limits import Limits
from bot.relay.service import Relays
from knowledge.directory import Directory
from knowledge.errors import InvalidInput
from knowledge.links import LinkView
from knowledge.sharing import SharedKnowledge, parse_visibility
from knowledge.vocabulary import LinkStatus, Role

_DIRECTIONS = ("both", "send", "receive")
_MODES = ("threads", "channel")


def _here(ctx: CommandContext) -> tuple[str, str, str]:
    if ctx.event.direct:
        raise InvalidInput(
            "Run this in the channel that should send and receive relays, not in a DM."
        )
    channel = ctx.event.channel
    return channel.platform, channel.space, channel.channel


def _describe(link: LinkView, community_id: int) -> str:
    mine = link.side(community_id)
    other = link.other(community_id)
    if other is not None and link.status == LinkStatus.INVITED:
        return f"• #{link.id}: waiting for **{other.name}** ({other.slug}) to confirm the link"
    if other is None or link.status == LinkStatus.INVITED:
        expires = link.code_expires_at.strftime("%Y-%m-%d") if link.code_expires_at else "?"
        return f"• #{link.id}: invitation waiting to be accepted (until {expires})"
    out, back = mine.sends and other.receives, other.sends and mine.receives
    if out and back:
        flow = "both ways"
    elif out:
        flow = "we send only"
    elif back:
        flow = "we receive only"
    else:
        flow = "nothing flows either way"
    state = "active"
    if mine.paused:
        state = "paused by us"
    elif other.paused:
        state = f"paused by {other.name}"
    mode = "every thread of the channel" if link.whole_channel else "threads relayed with /relay"
    there = f"{other.platform} {channel_label(other.channel)}"
    if other.platform == "activitypub":  # its channel is chosen on its own deployment
        there = "another Hearth deployment"
    return (
        f"• **{other.name}** ({other.slug}), link #{link.id}: {state}; {flow}; {mode}; "
        f"here: {mine.platform} {channel_label(mine.channel)}, there: {there}"
    )


@dataclass(frozen=True)
class ConstellationCommands:
    directory: Directory
    relays: Relays
    sharing: SharedKnowledge
    limits: Limits
    joint: JointCommands  # joint rituals end with the link
    cross: CrossDeployment | None = None  # when [federation] is on

    async def _known_other(self, ctx: CommandContext, slug: str) -> None:
        """`for:` names another community of this deployment, or the code could never be used."""
        if "@" in slug and self.cross is not None:
            return  # a community of another deployment: its slug@host
        if slug == ctx.community.slug:
            raise InvalidInput(f"`{slug}` is this community: name the one the code is for.")
        if await self.directory.community_by_slug(slug) is None:
            raise InvalidInput(
                f"No community has the slug `{slug}`, so nobody could accept that code. "
                "Ask a steward of the other community for its slug and try again."
            )

    async def invite(self, ctx: CommandContext, args: Args) -> Reply:
        direction = args.text("direction") or "both"
        mode = args.text("mode") or "threads"
        for_slug = args.text("for").strip().lower() or None
        if for_slug is None and not ctx.port.capabilities.private_replies:
            raise InvalidInput(
                "Replies here are seen by everyone in the room, so the code must name the "
                f"community it is for: `{ctx.prefix}constellation invite for:<their slug>`."
            )
        if for_slug is not None:
            await self._known_other(ctx, for_slug)
        await self.limits.spend_invite(ctx.member.id, ctx.prefix)
        link, code = await self.relays.links.invite(
            ctx.community.id,
            ctx.member.id,
            _here(ctx),
            now=self.relays.now(),
            sends=direction in ("both", "send"),
            receives=direction in ("both", "receive"),
            whole_channel=mode == "channel",
            for_slug=for_slug,
        )
        only = f" It can only be accepted by **{for_slug}**." if for_slug else ""
        if self.cross is not None:
            only += (
                " A steward on another Hearth deployment runs "
                f"`{ctx.prefix}constellation accept {code}@{self.cross.host(ctx.community.slug)}`."
            )
        expires = (
            link.code_expires_at.strftime("%Y-%m-%d %H:%M UTC") if link.code_expires_at else ""
        )
        return Reply(
            f"🔗 Invitation created. Give this code to a steward of the other community; they "
            f"run `{ctx.prefix}constellation accept {code}` in the channel that should receive "
            f"relays there. It works once, until {expires}.{only} Relays from them arrive in "
            "this channel.",
            ephemeral=True,
            private=True,
        )

    async def accept(self, ctx: CommandContext, args: Args) -> Reply:
        if "@" in args.text("code"):  # a code of another deployment
            return await accept_across(self.cross, ctx, _here(ctx), args.text("code"))
        link = await self.relays.links.accept(
            args.text("code"),
            ctx.community.id,
            ctx.member.id,
            _here(ctx),
            now=self.relays.now(),
        )
        other = link.other(ctx.community.id)
        assert other is not None
        await self.relays.announce(
            other,
            f"🔗 **{ctx.community.name}** accepted the link: this community's constellation grew.",
        )
        return Reply(
            f"🔗 Linked with **{other.name}**. Use `{ctx.prefix}relay` in a thread (or as a reply) "
            f"to relay it there; `{ctx.prefix}constellation list` shows the link."
        )

    async def list_(self, ctx: CommandContext, args: Args) -> Reply:
        links = await self.relays.links.links_of(ctx.community.id)
        if not links:
            return Reply(
                f"This community has no links yet. A steward starts one with "
                f"`{ctx.prefix}constellation invite`.",
                ephemeral=True,
            )
        lines = [_describe(link, ctx.community.id) for link in links]
        return Reply("**Constellation links**\n" + "\n".join(lines), ephemeral=True)

    async def _set_paused(self, ctx: CommandContext, args: Args, paused: bool) -> Reply:
        relays = self.relays
        link = await relays.links.find(ctx.community.id, args.text("community"))
        await relays.links.set_paused(link.id, ctx.community.id, paused, relays.now())
        other = link.other(ctx.community.id)
        name = other.name if other else f"link #{link.id}"
        if paused:
            return Reply(f"⏸️ Relays with **{name}** are paused (both ways) until you resume.")
        relays.wake.set()
        return Reply(f"▶️ Relays with **{name}** resume; what was queued goes now.")

    async def pause(self, ctx: CommandContext, args: Args) -> Reply:
        return await self._set_paused(ctx, args, True)

    async def resume(self, ctx: CommandContext, args: Args) -> Reply:
        return await self._set_paused(ctx, args, False)

    async def leave(self, ctx: CommandContext, args: Args) -> Reply:
        relays = self.relays
        link = await relays.links.find(ctx.community.id, args.text("community"))
        cancelled = await relays.links.leave(link.id, ctx.community.id, relays.now())
        # another deployment is told by its protocol (Undo), not by a relayed notice
        told = self.cross is not None and await self.cross.left(link.id)
        other = link.other(ctx.community.id)
        if other is not None and not told:
            await relays.announce(
                other, f"🔗 **{ctx.community.name}** left the link: relays between us have stopped."
            )
        name = other.name if other else f"invitation #{link.id}"
        dropped = f" {cancelled} queued relay(s) were cancelled." if cancelled else ""
        if other is not None:
            ended = await self.joint.leave_link(ctx.community.id, other.community_id)
            if ended:
                dropped += f" {ended} joint ritual part(s) between you have ended."
        return Reply(f"🔗 Left the link with **{name}**; nothing more flows either way.{dropped}")

    async def scope(self, ctx: CommandContext, args: Args) -> Reply:
        relays = self.relays
        link = await relays.links.find(ctx.community.id, args.text("community"))
        direction, mode, channel = args.text("direction"), args.text("mode"), args.text("channel")
        target = None
        if channel:
            ref = ctx.port.resolve_channel(channel, ctx.event.channel)
            if ref is None:
                raise InvalidInput(f"“{channel}” is not a channel I can find here.")
            target = (ref.platform, ref.space, ref.channel)
        updated = await relays.links.set_scope(
            link.id,
            ctx.community.id,
            sends=None if not direction else direction in ("both", "send"),
            receives=None if not direction else direction in ("both", "receive"),
            channel=target,
            whole_channel=None if not mode else mode == "channel",
        )
        return Reply("Scope saved.\n" + _describe(updated, ctx.community.id))

    async def share(self, ctx: CommandContext, args: Args) -> Reply:
        relays = self.relays
        link = await relays.links.find(ctx.community.id, args.text("community"))
        on = args.text("switch") == "on"
        updated = await relays.links.set_scope(link.id, ctx.community.id, shares_knowledge=on)
        other = updated.other(ctx.community.id)
        name = other.name if other else f"link #{link.id}"
        if not on:
            return Reply(
                f"🔭 Knowledge sharing with **{name}** is off: neither side finds the other's "
                "insights any more (adopted copies stay, credited)."
            )
        if other is not None and other.shares_knowledge:
            return Reply(
                f"🔭 Knowledge sharing with **{name}** is on, on both sides: each finds what the "
                f"other marks shared (`{ctx.prefix}search … scope:constellation`)."
            )
        return Reply(
            f"🔭 This community agrees to share knowledge with **{name}**; it starts once their "
            f"steward runs `{ctx.prefix}constellation share {ctx.community.slug} on` too."
        )

    async def knowledge(self, ctx: CommandContext, args: Args) -> Reply:
        sharing = self.sharing
        scope = await sharing.scope(ctx.community.id)
        if not scope.siblings:
            return Reply(
                "No linked community shares knowledge with this one: both stewards run "
                f"`{ctx.prefix}constellation share <community> on`.",
                ephemeral=True,
            )
        lines = ["**Knowledge across the constellation**"]
        for flow in await sharing.flows(scope):
            lines.append(
                f"• **{flow.sibling.name}**: we share {flow.shared_by_us}, they share "
                f"{flow.shared_by_them}; we adopted {flow.adopted_by_us} of theirs, they "
                f"adopted {flow.adopted_by_them} of ours"
            )
        return Reply("\n".join(lines), ephemeral=True)

    async def default(self, ctx: CommandContext, args: Args) -> Reply:
        visibility = parse_visibility(args.text("visibility"))
        await self.sharing.set_default(ctx.community.id, visibility)
        return Reply(f"🔭 New insights in this community start as **{visibility.value}**.")


def constellation_command() -> Command:
    sibling = Option(
        "community", OptionType.TEXT, "the linked community (name or slug)", required=True
    )
    direction = Option(
        "direction", OptionType.WORD, "both, send or receive", keyword=True, choices=_DIRECTIONS
    )
    mode = Option(
        "mode",
        OptionType.WORD,
        "threads (only those relayed with /relay) or channel (every thread)",
        keyword=True,
        choices=_MODES,
    )
    steward = Role.STEWARD
    return Command(
        name="constellation",
        help="Link with sibling communities and relay threads between you",
        subcommands=(
            Command(
                "invite",
                "Create a one-time code a sibling's steward accepts",
                ConstellationCommands.invite,
                options=(
                    direction,
                    mode,
                    Option(
                        "for",
                        OptionType.WORD,
                        "the slug of the community the code is for (only it can accept)",
                        keyword=True,
                    ),
                ),
                permission=steward,
            ),
            Command(
                "accept",
                "Accept a sibling's invitation code",
                ConstellationCommands.accept,
                options=(Option("code", OptionType.WORD, "the code", required=True),),
                permission=steward,
            ),
            Command("list", "This community's links and their state", ConstellationCommands.list_),
            Command(
                "pause",
                "Pause relays with a sibling",
                ConstellationCommands.pause,
                (sibling,),
                steward,
            ),
            Command(
                "resume",
                "Resume relays with a sibling",
                ConstellationCommands.resume,
                (sibling,),
                steward,
            ),
            Command(
                "leave", "End a link for good", ConstellationCommands.leave, (sibling,), steward
            ),
            Command(
                "share",
                "Turn knowledge sharing with a sibling on or off (both sides must turn it on)",
                ConstellationCommands.share,
                options=(
                    Option("community", OptionType.WORD, "the linked community", required=True),
                    Option(
                        "switch", OptionType.WORD, "on or off", required=True, choices=("on", "off")
                    ),
                ),
                permission=steward,
            ),
            Command(
                "knowledge",
                "What is shared and adopted, per linked community",
                ConstellationCommands.knowledge,
            ),
            Command(
                "ritual",
                "Accept or decline a joint ritual for this community, or list them",
                JointCommands.ritual,
                options=(
                    Option(
                        "action",
                        OptionType.WORD,
                        "accept, decline or list",
                        required=True,
                        choices=("accept", "decline", "list"),
                    ),
                    Option("id", OptionType.INTEGER, "the joint ritual's number"),
                    Option("channel", OptionType.WORD, "where its prompts go here", keyword=True),
                    Option(
                        "time",
                        OptionType.WORD,
                        "your own hour in its window, e.g. 17:00",
                        keyword=True,
                    ),
                ),
            ),
            Command(
                "pulse", "Each linked community's last 90 days, as a table", JointCommands.pulse
            ),
            Command(
                "default",
                "Who may find new insights: community, constellation or public",
                ConstellationCommands.default,
                options=(VISIBILITY,),
                permission=steward,
            ),
            Command(
                "scope",
                "Direction, mode and channel of a link on this side",
                ConstellationCommands.scope,
                options=(
                    Option("community", OptionType.WORD, "the linked community", required=True),
                    direction,
                    mode,
                    Option("channel", OptionType.WORD, "where relays arrive here", keyword=True),
                ),
                permission=steward,
            ),
        ),
        default_subcommand="list",
        examples=("/constellation invite", "/constellation accept HL-ABCD-EFGH-JKMN"),
        strict_keywords=True,
    )
