"""What people do on the loopback Discord: say, edit, delete, react, post through a
webhook, run a slash command; each echoed on the gateway as Discord would."""

from __future__ import annotations

from typing import Any

from tests.fakes.discord_loopback.wire import (
    ALICE,
    APP_ID,
    BOB,
    BOT,
    CHANNEL,
    DM_CHANNEL,
    EVERYONE_PERMISSIONS,
    GUILD,
    Call,
    _now,
)


class People:
    async def say(
        self,
        content: str,
        author: dict[str, Any] = ALICE,
        channel_id: int = CHANNEL,
        reply_to: int | None = None,
        attachments: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        message = self.message(
            channel_id, content, author, reply_to=reply_to, attachments=attachments
        )
        await self.dispatch("MESSAGE_CREATE", message)
        return message

    def attachment(self, name: str, size: int, content_type: str) -> dict[str, Any]:
        """A file on a message, as Discord describes it."""
        attachment_id = self.next_id()
        url = f"https://cdn.discordapp.com/attachments/{CHANNEL}/{attachment_id}/{name}"
        return {
            "id": str(attachment_id),
            "filename": name,
            "size": size,
            "url": url,
            "proxy_url": url,
            "content_type": content_type,
        }

    def create_webhook(
        self, channel_id: int, name: str, owner: dict[str, Any] = BOT
    ) -> dict[str, Any]:
        webhook_id = self.next_id()
        webhook = {
            "id": str(webhook_id),
            "type": 1,
            "guild_id": str(GUILD),
            "channel_id": str(channel_id),
            "name": name,
            "avatar": None,
            "token": f"webhook-token-{webhook_id}",
            "application_id": str(APP_ID) if owner is BOT else None,
            "user": owner,
        }
        self.webhooks[webhook_id] = webhook
        return webhook

    async def webhook_says(
        self, webhook: dict[str, Any], content: str, username: str, channel_id: int | None = None
    ) -> dict[str, Any]:
        """Someone (another integration) posts through `webhook`."""
        message = self._webhook_message(webhook, content, username, channel_id)
        await self.dispatch("MESSAGE_CREATE", message)
        return message

    def _webhook_message(
        self, webhook: dict[str, Any], content: str, username: str, channel_id: int | None
    ) -> dict[str, Any]:
        author = {
            "id": webhook["id"],
            "username": username,
            "avatar": None,
            "discriminator": "0000",
            "bot": True,
        }
        where = channel_id or int(webhook["channel_id"])
        return self.message(where, content, author, webhook_id=int(webhook["id"]))

    async def edit(self, message: dict[str, Any], content: str) -> None:
        message.update(content=content, edited_timestamp=_now())
        await self.dispatch("MESSAGE_UPDATE", dict(message))

    async def delete(self, message: dict[str, Any]) -> None:
        self.messages.pop(int(message["id"]), None)
        data = {"id": message["id"], "channel_id": message["channel_id"], "guild_id": str(GUILD)}
        await self.dispatch("MESSAGE_DELETE", data)

    async def react(
        self,
        message: dict[str, Any],
        emoji: str,
        user: dict[str, Any] = BOB,
        roles: tuple[int, ...] | None = (),
    ) -> None:
        """`roles=None` leaves the member out of the event (Discord may)."""
        data = {
            "user_id": user["id"],
            "channel_id": message["channel_id"],
            "message_id": message["id"],
            "guild_id": str(GUILD),
            "emoji": {"id": None, "name": emoji},
            "message_author_id": message["author"]["id"],
            "burst": False,
            "burst_colors": [],
            "type": 0,
        }
        if roles is not None:
            data["member"] = self.member(user, roles)
        await self.dispatch("MESSAGE_REACTION_ADD", data)

    def interaction(
        self,
        data: dict[str, Any],
        *,
        kind: int = 2,
        user: dict[str, Any] = ALICE,
        channel_id: int = CHANNEL,
        roles: tuple[int, ...] = (),
        permissions: int = EVERYONE_PERMISSIONS,
        interaction_id: int | None = None,
        guild: int = GUILD,
    ) -> dict[str, Any]:
        interaction_id = interaction_id or self.next_id()
        member = self.member(user, roles)
        member["permissions"] = str(permissions)
        return {
            "id": str(interaction_id),
            "application_id": str(APP_ID),
            "type": kind,
            "token": f"token-{interaction_id}",
            "version": 1,
            "guild_id": str(guild),
            "channel_id": str(channel_id),
            "channel": {**self.channel_payload(channel_id), "permissions": str(permissions)},
            "member": member,
            "data": data,
            "app_permissions": str(EVERYONE_PERMISSIONS),
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(guild)},
            "context": 0,
            "attachment_size_limit": 8 * 1024 * 1024,
        }

    def direct(
        self, data: dict[str, Any], *, kind: int = 2, user: dict[str, Any] = ALICE
    ) -> dict[str, Any]:
        """An interaction from the person's DM with the bot: no guild, a `user`."""
        payload = self.interaction(data, kind=kind, user=user, channel_id=DM_CHANNEL)
        for key in ("guild_id", "member", "guild_locale"):
            payload.pop(key)
        payload["user"] = user
        payload["channel"] = self.channel_payload(DM_CHANNEL)
        payload["authorizing_integration_owners"] = {"1": user["id"]}
        payload["context"] = 1
        payload["data"].pop("guild_id", None)
        return payload

    async def direct_slash(
        self, name: str, options: list[dict[str, Any]] | None = None, user: dict[str, Any] = ALICE
    ) -> dict[str, Any]:
        """Someone runs a slash command in their DM with the bot."""
        data = {"id": "1", "name": name, "type": 1, "options": options or []}
        payload = self.direct(data, user=user)
        await self.dispatch("INTERACTION_CREATE", payload)
        return payload

    async def direct_pick(
        self, custom_id: str, value: str, user: dict[str, Any] = ALICE
    ) -> dict[str, Any]:
        """Someone picks `value` in a select menu the bot sent to their DM."""
        data = {"custom_id": custom_id, "component_type": 3, "values": [value]}
        payload = self.direct(data, kind=3, user=user)
        await self.dispatch("INTERACTION_CREATE", payload)
        return payload

    async def slash(
        self, name: str, options: list[dict[str, Any]] | None = None, **how: Any
    ) -> dict[str, Any]:
        """Someone runs a slash command; returns the INTERACTION_CREATE payload."""
        data = {
            "id": "1",
            "name": name,
            "type": 1,
            "guild_id": str(GUILD),
            "options": options or [],
        }
        payload = self.interaction(data, **how)
        await self.dispatch("INTERACTION_CREATE", payload)
        return payload

    async def callback(self, interaction: dict[str, Any]) -> Call:
        """The (first) answer to an interaction."""
        calls = await self.wait_call("POST", f"/interactions/{interaction['id']}/.*/callback")
        return calls[0]
