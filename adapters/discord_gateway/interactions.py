"""Interactions: slash commands, autocomplete, the "Save as insight" menu and its modal.

Each interaction's id is its event id in `Inbound`, so one redelivered after a RESUME is
answered once. A command still running after `defer_after_seconds` is deferred, so Discord's
3-second limit never loses an answer; an ephemeral answer to a deferred command replaces
the public "thinking…" placeholder with a private follow-up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

import discord
import structlog

from adapters.discord_gateway.commands import (
    MESSAGE_MENU,
    SAVE_AS_INSIGHT,
    autocomplete_kind,
    invocation,
    option_at,
)
from adapters.discord_gateway.config import DiscordConfig
from adapters.discord_gateway.roles import interaction_role
from adapters.discord_gateway.text import NO_MENTIONS, chunks, render
from bot.commands.spec import CommandTable, Reply
from bot.direct import CHOICE_ID
from bot.events import ChannelRef, CommandInvoked, MessageRef, UserRef
from bot.hashtags import hashtags
from bot.inbound import Answer, Inbound
from bot.port import OutboundPort
from bot.suggestions import Suggestions

log = structlog.get_logger(__name__)

SAVE_PREFIX = "hearth:save:"


def _fields(components: Any) -> Iterator[tuple[str, str]]:
    """(custom_id, value) of every text input in a modal submission, however nested."""
    if isinstance(components, list):
        for item in components:
            yield from _fields(item)
    elif isinstance(components, Mapping):
        if "custom_id" in components and "value" in components:
            yield str(components["custom_id"]), str(components["value"])
        for key in ("components", "component"):
            if key in components:
                yield from _fields(components[key])


class SaveModal(discord.ui.Modal):
    """Title and tags for a message being saved; the submission is handled by custom id,
    not by this object, so it still works if the bot restarted in between."""

    def __init__(self, custom_id: str, tags: str, preview: str) -> None:
        super().__init__(title=SAVE_AS_INSIGHT, custom_id=custom_id, timeout=None)
        self.add_item(
            discord.ui.TextInput(
                label="Title (optional)",
                custom_id="title",
                required=False,
                max_length=200,
                placeholder=preview[:100] or None,
            )
        )
        self.add_item(
            discord.ui.TextInput(
                label="Tags", custom_id="tags", required=False, default=tags, max_length=300
            )
        )


class Host(OutboundPort, Protocol):
    """What interactions need of the adapter: the port to answer through, Inbound, and
    message refs as the adapter binds them (a thread's parent channel)."""

    @property
    def inbound(self) -> Inbound: ...

    def ref(self, guild_id: int, channel_id: int, message_id: int) -> MessageRef: ...


class Interactions:
    def __init__(
        self,
        adapter: Host,
        config: DiscordConfig,
        table: CommandTable,
        suggestions: Suggestions | None,
    ) -> None:
        self._adapter = adapter
        self._config = config
        self._table = table
        self._names = suggestions

    async def handle(self, interaction: discord.Interaction) -> None:
        data: Mapping[str, Any] = interaction.data or {}
        kind = interaction.type
        try:
            if kind is discord.InteractionType.autocomplete:
                await self._autocomplete(interaction, data)
            elif kind is discord.InteractionType.modal_submit:
                await self._modal_submit(interaction, data)
            elif kind is discord.InteractionType.component:
                await self._component(interaction, data)
            elif kind is discord.InteractionType.application_command:
                if data.get("type") == MESSAGE_MENU:
                    await self._open_save_modal(interaction, data)
                else:
                    await self._command(interaction, data)
        except discord.HTTPException:
            log.exception("discord.interaction_failed", interaction=interaction.id)

    # where and who -------------------------------------------------------------------

    def _channel(self, interaction: discord.Interaction) -> tuple[ChannelRef, str | None]:
        """The bound channel (a thread's parent) and the thread, if the command came from one."""
        space = str(interaction.guild_id) if interaction.guild_id else "@me"
        channel = interaction.channel
        if isinstance(channel, discord.Thread) and channel.parent_id is not None:
            return ChannelRef("discord", space, str(channel.parent_id)), str(channel.id)
        return ChannelRef("discord", space, str(interaction.channel_id)), None

    def _user(self, interaction: discord.Interaction) -> UserRef:
        """The invoker, with the role their Discord roles and permissions grant here."""
        space = str(interaction.guild_id) if interaction.guild_id else "@me"
        role = interaction_role(self._config.roles_for(space), interaction)
        return UserRef("discord", str(interaction.user.id), interaction.user.display_name, role)

    # commands ------------------------------------------------------------------------

    async def _command(self, interaction: discord.Interaction, data: Mapping[str, Any]) -> None:
        call = invocation(self._table, data)
        channel, _ = self._channel(interaction)
        event = CommandInvoked(
            name=call.name,
            invoker=self._user(interaction),
            channel=channel,
            event_id=f"interaction:{interaction.id}",
            text=call.text,
            options=call.options,
            direct=interaction.guild_id is None,
        )
        await self._run(interaction, event)

    async def _run(self, interaction: discord.Interaction, event: CommandInvoked) -> None:
        ready = asyncio.Event()  # the reply is there to be shown
        settled = asyncio.Event()  # deferred or not: the reply may go out now

        async def deliver(answer: Answer) -> None:
            ready.set()
            await settled.wait()
            await self.respond(interaction, answer.reply)

        work = asyncio.ensure_future(
            self._adapter.inbound.command(event, self._adapter, "/", deliver)
        )
        replied = asyncio.ensure_future(ready.wait())
        try:
            done, _ = await asyncio.wait(
                {work, replied},
                timeout=self._config.defer_after_seconds,
                return_when=asyncio.FIRST_COMPLETED,
            )
            if not done:
                await interaction.response.defer(thinking=True)
        finally:
            settled.set()
            replied.cancel()
        handled = await work
        if not handled and interaction.response.is_done():  # a redelivery: say nothing twice
            await interaction.delete_original_response()

    async def respond(self, interaction: discord.Interaction, reply: Reply) -> None:
        parts = chunks(render(reply.text))
        view = _menu(reply.choices) if reply.choices else discord.utils.MISSING
        if not interaction.response.is_done():
            await interaction.response.send_message(
                parts[0], ephemeral=reply.ephemeral, allowed_mentions=NO_MENTIONS, view=view
            )
        elif reply.ephemeral:
            await interaction.delete_original_response()
            await interaction.followup.send(
                parts[0], ephemeral=True, allowed_mentions=NO_MENTIONS, view=view
            )
        else:
            await interaction.edit_original_response(
                content=parts[0], allowed_mentions=NO_MENTIONS, view=view or None
            )
        for part in parts[1:]:
            await interaction.followup.send(
                part, ephemeral=reply.ephemeral, allowed_mentions=NO_MENTIONS
            )

    async def _component(self, interaction: discord.Interaction, data: Mapping[str, Any]) -> None:
        """The menu of a DM's communities (bot.direct): the pick binds this DM channel."""
        if str(data.get("custom_id", "")) != CHOICE_ID or interaction.guild_id is not None:
            return
        values = data.get("values") or [""]
        channel, _ = self._channel(interaction)
        user = self._user(interaction)
        inbound = self._adapter.inbound
        reply = await inbound.choose_direct(channel, user, str(values[0]), self._adapter)
        await self.respond(interaction, reply)

    # the "Save as insight" menu ------------------------------------------------------

    async def _open_save_modal(
        self, interaction: discord.Interaction, data: Mapping[str, Any]
    ) -> None:
        target_id = str(data.get("target_id", ""))
        message = (data.get("resolved") or {}).get("messages", {}).get(target_id, {})
        content = str(message.get("content", ""))
        tags = " ".join(f"#{t}" for t in dict.fromkeys(hashtags(content)))
        channel_id = str(message.get("channel_id") or interaction.channel_id)
        custom_id = f"{SAVE_PREFIX}{channel_id}:{target_id}"
        await interaction.response.send_modal(SaveModal(custom_id, tags, content))

    async def _modal_submit(
        self, interaction: discord.Interaction, data: Mapping[str, Any]
    ) -> None:
        custom_id = str(data.get("custom_id", ""))
        if not custom_id.startswith(SAVE_PREFIX) or interaction.guild_id is None:
            return
        channel_id, _, message_id = custom_id.removeprefix(SAVE_PREFIX).partition(":")
        values = dict(_fields(data.get("components")))
        tags = [w if w.startswith("#") else f"#{w}" for w in values.get("tags", "").split()]
        text = " ".join(["add", values.get("title", "").strip(), *tags]).replace("  ", " ")
        target = self._adapter.ref(interaction.guild_id, int(channel_id), int(message_id))
        event = CommandInvoked(
            name="insight",
            invoker=self._user(interaction),
            channel=target.channel,
            event_id=f"interaction:{interaction.id}",
            text=text.strip(),
            options={"title": values.get("title", ""), "tags": values.get("tags", "")},
            target=target,
        )
        await self._run(interaction, event)

    # autocomplete --------------------------------------------------------------------

    async def _autocomplete(
        self, interaction: discord.Interaction, data: Mapping[str, Any]
    ) -> None:
        call = invocation(self._table, data)
        option = option_at(self._table, call.path, call.focused or "")
        kind = None if option is None else autocomplete_kind(call.path, option)
        typed = str(call.options.get(call.focused or "", "") or "")
        choices = await self._suggestions(interaction, kind, typed) if kind else []
        await interaction.response.autocomplete(choices)

    async def _suggestions(
        self, interaction: discord.Interaction, kind: str, typed: str
    ) -> list[discord.app_commands.Choice[str]]:
        if self._names is None:
            return []
        channel, _ = self._channel(interaction)
        names = await self._names.names(kind, "discord", channel.space, channel.channel)
        # Complete the last word; earlier words (several tags) are kept as typed.
        head, _, last = typed.rpartition(" ")
        needle = last.lstrip("#").casefold()
        if kind == "tags":
            hashed = typed.startswith("#") or " " in typed
            found = [f"#{n}" if hashed else n for n in names if n.casefold().startswith(needle)]
        else:
            found = [n for n in names if n.casefold().startswith(needle)]
        values = [f"{head} {f}".strip()[:100] for f in found[:25]]
        return [discord.app_commands.Choice(name=v, value=v) for v in values]


def _menu(choices: tuple[str, tuple[tuple[str, str], ...]]) -> discord.ui.View:
    """A pick list as a select menu (Discord shows at most 25 options)."""
    custom_id, options = choices
    view = discord.ui.View(timeout=600)
    view.add_item(
        discord.ui.Select(
            custom_id=custom_id,
            placeholder="Choose a community",
            options=[
                discord.SelectOption(label=label[:100], value=value)
                for value, label in options[:25]
            ],
        )
    )
    return view
