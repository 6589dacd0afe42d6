"""Matrix room events → neutral events, invites, and the role a room grants.

Commands are `!name …` messages (`!insight #tag` as a reply captures the replied-to
message); 💡 reactions capture (the answer goes to the target's thread); edits and
redactions keep sources in step; the bot's own events and `m.notice`s (other bots) are
ignored; relayed copies another Hearth posted (`org.hearth.relay`) arrive with
`from_bot` set. The sender's power level (or being a room creator) is attached to
commands and reactions as the role Matrix grants; the core applies it, and takes it back
when the power level drops. A DM whose community is still to be picked (Matrix has no
menus) lists the communities by number, and a plain message there is the answer.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import structlog
from nio import AsyncClient, RoomGetEventResponse  # type: ignore[import-untyped]

from adapters.matrix.content import (
    PLATFORM,
    markup_of,
    plain_text,
    relation,
    reply_target,
    thread_root,
)
from adapters.matrix.direct import DirectRooms
from adapters.matrix.e2e import Encryption
from adapters.matrix.errors import check
from adapters.matrix.outbound import MatrixPort
from bot.capture import BULBS, LABELS
from bot.commands.parse import split_command_line
from bot.commands.spec import Reply
from bot.config_matrix import MatrixConfig
from bot.direct import numbered
from bot.events import (
    ChannelRef,
    CommandInvoked,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    MessageRef,
    ReactionAdded,
    Role,
    UserRef,
)
from bot.inbound import Answer, EventLog, Inbound
from bot.port import DeliveryError, OutboundMessage

log = structlog.get_logger(__name__)

LEGACY_ROOM_VERSIONS = frozenset(str(n) for n in range(1, 12))
ENCRYPTED_NOTICE = (
    "This room is end-to-end encrypted, and Hearth cannot read encrypted messages: "
    "commands and 💡 here will go unanswered. Use Hearth in an unencrypted room."
)


class MatrixEvents(MatrixPort):
    """The port plus what the sync loop hands over: room events, invites, creators."""

    def __init__(self, client: AsyncClient, config: MatrixConfig, inbound_log: EventLog) -> None:
        encryption = Encryption(client, config)
        super().__init__(client, config.server_name, encryption)
        self.e2e = encryption
        self.directs = DirectRooms(client, encryption)
        self.config = config
        self.inbound_log = inbound_log
        self._inbound: Inbound | None = None
        self._creators: dict[str, set[str]] = {}

    @property
    def inbound(self) -> Inbound:
        if self._inbound is None:
            raise RuntimeError("MatrixAdapter.start() has not been called")
        return self._inbound

    @inbound.setter
    def inbound(self, inbound: Inbound) -> None:
        self._inbound = inbound

    def note_creators(self, room_id: str, events: list[dict[str, Any]]) -> None:
        """Room versions 12+ give creators unlimited power outside the power-levels map."""
        for event in events:
            if event.get("type") == "m.room.create" and event.get("state_key") == "":
                content = event.get("content") or {}
                if str(content.get("room_version", "1")) in LEGACY_ROOM_VERSIONS:
                    self._creators[room_id] = set()
                    continue
                extra = content.get("additional_creators") or []
                self._creators[room_id] = {str(event.get("sender")), *map(str, extra)}

    async def invited(self, room_id: str, state: list[dict[str, Any]]) -> None:
        """Join a room the config lets this inviter bring Hearth into; decline the rest."""
        me = self.client.user_id
        mine = next(
            (e for e in state if e.get("type") == "m.room.member" and e.get("state_key") == me),
            {},
        )
        inviter = str(mine.get("sender") or "")
        direct = bool((mine.get("content") or {}).get("is_direct"))
        aliases = [
            str((e.get("content") or {}).get("alias"))
            for e in state
            if e.get("type") == "m.room.canonical_alias"
        ]
        try:
            if self.config.may_join(room_id, inviter, aliases):
                check(await self.client.join(room_id))
                log.info("matrix.joined", room=room_id, inviter=inviter, direct=direct)
                if direct:
                    await self.directs.joined(inviter, room_id)
            else:
                check(await self.client.room_leave(room_id))
                log.info("matrix.invite_declined", room=room_id, inviter=inviter)
        except DeliveryError as exc:
            log.warning("matrix.invite_failed", room=room_id, error=str(exc))

    async def handle_event(self, room_id: str, event: dict[str, Any]) -> None:
        kind, content = event.get("type"), event.get("content") or {}
        channel = ChannelRef(PLATFORM, self.server_name, room_id)
        sender = str(event.get("sender"))
        user = UserRef(
            PLATFORM, sender, self.display_name(room_id, sender), self.role_of(room_id, sender)
        )
        rel = relation(content)
        if kind == "m.room.encrypted" and self.e2e.on:  # nio could not decrypt it
            log.warning("matrix.undecryptable", room=room_id, event_id=event.get("event_id"))
        elif kind in ("m.room.encrypted", "m.room.encryption") and not self.e2e.on:
            await self.tell_encrypted(channel)
        elif kind == "m.reaction" and rel.get("rel_type") == "m.annotation":
            key = str(rel.get("key"))
            target = await self._reacted_to(channel, str(rel.get("event_id")), key)
            reaction = ReactionAdded(target, key, user, str(event["event_id"]))
            await self.inbound.reaction(reaction, self, self.config.command_prefix)
        elif kind == "m.room.redaction":
            redacts = event.get("redacts") or content.get("redacts")
            if redacts:
                ref = MessageRef(channel, str(redacts), thread_id=self.thread_of(str(redacts)))
                await self.inbound.message_deleted(MessageDeleted(ref))
        elif kind == "m.room.message" and not content:
            return  # redacted before this sync saw it: its redaction follows
        elif kind == "m.room.message" and rel.get("rel_type") == "m.replace":
            await self._edited(channel, user, rel, content)
        elif kind == "m.room.message" and content.get("msgtype") != "m.notice":
            await self._message(channel, user, event)

    async def _message(self, channel: ChannelRef, user: UserRef, event: dict[str, Any]) -> None:
        content = event.get("content") or {}
        message = self.chat_message(channel.channel, event)
        replied = reply_target(content)
        root = thread_root(content)
        reply_to = MessageRef(channel, replied, thread_id=root) if replied else None
        command = split_command_line(message.text, self.config.command_prefix)
        direct = self.directs.is_direct(channel.channel)
        if command is None and direct:
            picked = await self.inbound.direct_answer(channel, user, message.text, self)
            if picked is not None:
                await self.post(channel, OutboundMessage(picked.text), reply_to=message.ref)
                return
        if command is None:
            in_thread = reply_to or (MessageRef(channel, root, thread_id=root) if root else None)
            await self.inbound.message_posted(MessagePosted(message, in_thread), self)
            return
        name, rest = command
        sender = user.user_id
        invoked = CommandInvoked(
            name=name,
            invoker=user,
            channel=channel,
            event_id=message.ref.message_id,
            text=rest,
            message=message,
            reply_to=reply_to,
            direct=direct,
        )

        async def deliver(answer: Answer) -> None:  # ephemeral does not exist on Matrix
            reply = replace(answer.message(), ephemeral=False, text=typed_choices(answer.reply))
            if answer.reply.private and not invoked.direct:  # only the asker sees it: a DM
                dm = ChannelRef(PLATFORM, self.server_name, await self.directs.room_for(sender))
                await self.post(dm, reply)
                return
            await self.post(channel, reply, reply_to=message.ref)

        await self.inbound.command(invoked, self, self.config.command_prefix, deliver)

    async def _reacted_to(self, channel: ChannelRef, event_id: str, key: str) -> MessageRef:
        """The reacted-to message with its thread, so the answer lands in that thread.

        Why a fetch: a reaction names only its target event, not the target's thread, and
        nio keeps no timeline. Only the emoji Hearth answers (💡, 🏷️) pay for it; a target
        that cannot be read is answered outside any thread, as before.
        """
        if key not in BULBS and key not in LABELS:
            return MessageRef(channel, event_id)
        response = await self.client.room_get_event(channel.channel, event_id)
        if not isinstance(response, RoomGetEventResponse):
            return MessageRef(channel, event_id)
        source = self.readable(channel.channel, response.event).source
        root = thread_root(source.get("content") or {})
        return MessageRef(channel, event_id, thread_id=root)

    async def _edited(
        self, channel: ChannelRef, editor: UserRef, rel: dict[str, Any], content: dict[str, Any]
    ) -> None:
        """An edit by the original author only (servers accept anyone's; clients do not)."""
        new = content.get("m.new_content")
        target = str(rel.get("event_id"))
        if not isinstance(new, dict):
            return
        fetched = check(await self.client.room_get_event(channel.channel, target))
        original = self.readable(channel.channel, fetched.event).source
        if original.get("sender") != editor.user_id:
            return
        root = thread_root(original.get("content") or {})
        self.remember_thread(target, root)
        ref = MessageRef(channel, target, thread_id=root)
        edited = MessageEdited(ref, plain_text(new), editor, markup=markup_of(new))
        await self.inbound.message_edited(edited)

    async def tell_encrypted(self, channel: ChannelRef) -> None:
        """Say once per room (across restarts: the InboundLog) that encryption is unsupported."""
        key = f"e2e-notice:{channel.channel}"
        if await self.inbound_log.take(PLATFORM, key):
            try:
                await self.post(channel, OutboundMessage(ENCRYPTED_NOTICE))
            except Exception as exc:  # nio refuses plain sends into encrypted rooms
                log.warning("matrix.encrypted_room", room=channel.channel, error=repr(exc))
            await self.inbound_log.done(PLATFORM, key)

    def role_of(self, room_id: str, user_id: str) -> Role | None:
        """The role the room grants: a creator (room v12) stewards, else by power level.
        None when the room's state is not known here (nothing is changed then): without
        its create event a creator would look like a plain member."""
        room, creators = self.client.rooms.get(room_id), self._creators.get(room_id)
        if room is None or creators is None:
            return None
        if user_id in creators:
            return Role.STEWARD
        return self.config.role_for(room.power_levels.get_user_level(user_id))


def typed_choices(reply: Reply) -> str:
    """The reply's text; with `choices` (no menus here), the numbered list to answer from."""
    if reply.choices is None:
        return reply.text
    return f"{reply.text}\n{numbered(reply.choices[1])}\nReply here with its number or name."
