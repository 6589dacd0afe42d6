"""Slack's interactive payloads: the "Save as insight" shortcut and its modal, and the
menu that picks the community of a DM with Hearth; and answers through a `response_url`.

Why the menu: when a workspace holds several communities, a DM with Hearth is asked which
one it belongs to (bot.direct). The question carries `Reply.choices`, shown here as a
Block Kit `static_select` (action id `hearth:dm-community`); the pick arrives as a
`block_actions` payload, signed and authorized by bolt like any request, is acknowledged
at once and answered through its `response_url`, replacing the ephemeral question.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from adapters.slack import modal
from adapters.slack.outbound import PLATFORM, SlackPort
from adapters.slack.text import message_payload, to_plain
from adapters.slack.webapi import error_code, plain_message
from bot.direct import CHOICE_ID
from bot.events import ChannelRef, CommandInvoked, MessageRef
from bot.inbound import Answer, Inbound
from bot.port import DeliveryError, OutboundMessage

log = structlog.get_logger(__name__)

Respond = Callable[..., Awaitable[Any]]
Choices = tuple[str, tuple[tuple[str, str], ...]]
OPTION_TEXT = 75  # Block Kit's limit for an option's label
MAX_OPTIONS = 100  # and for a static_select's options


def reply_payload(text: str, choices: Choices | None = None) -> dict[str, Any]:
    """The message's text and blocks, with the menu of `choices` under them."""
    payload = message_payload(text)
    if choices is None:
        return payload
    action_id, options = choices
    menu = {
        "type": "static_select",
        "action_id": action_id,
        "placeholder": {"type": "plain_text", "text": "Choose a community"},
        "options": [
            {"text": {"type": "plain_text", "text": label[:OPTION_TEXT]}, "value": value}
            for value, label in options[:MAX_OPTIONS]
        ],
    }
    blocks = [*(payload["blocks"] or []), {"type": "actions", "elements": [menu]}]
    return {**payload, "blocks": blocks}


async def answer(
    respond: Respond,
    text: str,
    *,
    ephemeral: bool,
    choices: Choices | None = None,
    replace_original: bool = False,
) -> None:
    """Answer through the request's response_url (works without channel membership)."""
    try:
        await respond(
            response_type="ephemeral" if ephemeral else "in_channel",
            replace_original=replace_original,
            **reply_payload(text, choices),
        )
    except Exception as exc:
        log.warning("slack.respond_failed", error=repr(exc))


class Interactions:
    """The listeners of interactive payloads, over the adapter's port and core."""

    def __init__(self, port: SlackPort, inbound: Callable[[], Inbound], prefix: str) -> None:
        self._port = port
        self._inbound = inbound
        self._prefix = prefix

    # the DM's community menu ---------------------------------------------------------

    async def on_pick(
        self, ack: Callable[..., Awaitable[None]], body: dict[str, Any], respond: Respond
    ) -> None:
        """A pick from the menu of a DM's communities: binds that DM (bot.direct.choose)."""
        await ack()
        team = str((body.get("team") or {}).get("id", ""))
        channel_id = str((body.get("channel") or {}).get("id", ""))
        user_id = str((body.get("user") or {}).get("id", ""))
        action: dict[str, Any] = next(
            (a for a in body.get("actions") or [] if a.get("action_id") == CHOICE_ID), {}
        )
        slug = str((action.get("selected_option") or {}).get("value", ""))
        if not channel_id.startswith("D"):  # the menu only ever goes to DMs
            log.info("slack.pick_outside_dm", channel=channel_id)
            return
        try:
            invoker = await (await self._port.teams.get(team)).workspace.actor(user_id)
            channel = ChannelRef(PLATFORM, team, channel_id)
            reply = await self._inbound().choose_direct(channel, invoker, slug, self._port)
        except DeliveryError as exc:
            log.warning("slack.pick_failed", error=error_code(exc))
            await answer(respond, plain_message(exc), ephemeral=True)
            return
        log.info("slack.dm_community_picked", team=team, picked=slug)
        await answer(respond, reply.text, ephemeral=True, replace_original=True)

    # the "Save as insight" shortcut and modal -----------------------------------------

    async def on_shortcut(
        self, ack: Callable[..., Awaitable[None]], body: dict[str, Any], respond: Respond
    ) -> None:
        await ack()
        message = body.get("message") or {}
        target = modal.Target(
            team=str((body.get("team") or {}).get("id", "")),
            channel=str((body.get("channel") or {}).get("id", "")),
            ts=str(message.get("ts", "")),
            thread_ts=message.get("thread_ts"),
        )
        view = modal.capture_view(target, to_plain(str(message.get("text") or "")))
        try:
            await self._port.open_view(target.team, str(body.get("trigger_id", "")), view)
        except DeliveryError as exc:
            await answer(respond, plain_message(exc), ephemeral=True)

    async def on_submission(
        self, ack: Callable[..., Awaitable[None]], body: dict[str, Any], view: dict[str, Any]
    ) -> None:
        tags, problem = modal.read_tags(view)
        if problem is not None:
            await ack(response_action="errors", errors={modal.TAGS_BLOCK: problem})
            return
        await ack()
        target = modal.read_target(view)
        user_id = str((body.get("user") or {}).get("id", ""))
        channel = ChannelRef(PLATFORM, target.team, target.channel)
        ref = MessageRef(channel, target.ts, thread_id=target.thread_ts)
        port = self._port
        try:
            event = CommandInvoked(
                name="insight",
                invoker=await (await port.teams.get(target.team)).workspace.actor(user_id),
                channel=channel,
                event_id=f"view:{view.get('id')}",
                text=" ".join(["add", *(f"#{t}" for t in tags)]),
                target=ref,
            )

            async def deliver(answer: Answer) -> None:
                try:
                    if answer.reply.ephemeral:
                        await port.post_ephemeral(channel, user_id, answer.reply.text, thread=ref)
                    else:
                        await port.post(channel, OutboundMessage(answer.reply.text), reply_to=ref)
                except DeliveryError as exc:
                    await self._submission_failed(channel, user_id, exc)

            await self._inbound().command(event, port, self._prefix, deliver)
        except DeliveryError as exc:
            await self._submission_failed(channel, user_id, exc)

    async def _submission_failed(
        self, channel: ChannelRef, user_id: str, exc: DeliveryError
    ) -> None:
        log.warning("slack.submission_failed", error=error_code(exc))
        with contextlib.suppress(DeliveryError):
            await self._port.post_ephemeral(channel, user_id, plain_message(exc))
