"""Discord's JSON for channels, guilds (roles, members), messages and attachments."""

from __future__ import annotations

from typing import Any

from tests.fakes.discord_loopback.wire import (
    ALICE,
    CHANNEL,
    CURATOR_ROLE,
    DM_CHANNEL,
    EVERYONE_PERMISSIONS,
    GUILD,
    OTHER_CHANNEL,
    SECOND_CHANNEL,
    SECOND_GUILD,
    STEWARD_ROLE,
    THREAD,
    _now,
)


class Payloads:
    def channel_payload(self, channel_id: int) -> dict[str, Any]:
        if channel_id == SECOND_CHANNEL:
            return {**self.channel_payload(OTHER_CHANNEL), "id": str(channel_id),
                    "guild_id": str(SECOND_GUILD), "name": "hall", "position": 0}  # fmt: skip
        if channel_id == DM_CHANNEL:
            return {"id": str(DM_CHANNEL), "type": 1, "last_message_id": None, "flags": 0}
        if channel_id == THREAD:
            return {
                "id": str(THREAD),
                "guild_id": str(GUILD),
                "parent_id": str(CHANNEL),
                "owner_id": ALICE["id"],
                "name": "a thread",
                "type": 11,
                "last_message_id": None,
                "rate_limit_per_user": 0,
                "message_count": 0,
                "member_count": 1,
                "flags": 0,
                "thread_metadata": {
                    "archived": False,
                    "auto_archive_duration": 1440,
                    "archive_timestamp": _now(),
                    "locked": False,
                },
            }
        return {
            "id": str(channel_id),
            "guild_id": str(GUILD),
            "type": 0,
            "name": "general" if channel_id == CHANNEL else "other",
            "position": 0 if channel_id == CHANNEL else 1,
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None,
            "topic": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "flags": 0,
        }

    def guild_payload(self, guild_id: int) -> dict[str, Any]:
        def role(role_id: int, name: str, position: int, permissions: int) -> dict[str, Any]:
            return {
                "id": str(role_id),
                "name": name,
                "position": position,
                "permissions": str(permissions),
                "color": 0,
                "hoist": False,
                "managed": False,
                "mentionable": False,
                "flags": 0,
            }

        channels = (CHANNEL, OTHER_CHANNEL) if guild_id == GUILD else (SECOND_CHANNEL,)
        return {
            "id": str(guild_id),
            "name": "The Guild" if guild_id == GUILD else "The Second Guild",
            "owner_id": "1",
            "roles": [
                role(guild_id, "@everyone", 0, EVERYONE_PERMISSIONS),
                role(CURATOR_ROLE, "Curator", 1, EVERYONE_PERMISSIONS),
                role(STEWARD_ROLE, "Steward", 2, EVERYONE_PERMISSIONS),
            ],
            "channels": [self.channel_payload(c) for c in channels],
            "threads": [self.channel_payload(THREAD)] if guild_id == GUILD else [],
            "members": [],
            "member_count": 3,
            "emojis": [],
            "stickers": [],
            "features": [],
            "unavailable": False,
            "large": False,
            "joined_at": _now(),
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "premium_tier": 0,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "system_channel_flags": 0,
            "preferred_locale": "en-US",
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
        }

    @staticmethod
    def member(user: dict[str, Any], roles: tuple[int, ...] = ()) -> dict[str, Any]:
        return {
            "user": user,
            "roles": [str(r) for r in roles],
            "joined_at": _now(),
            "deaf": False,
            "mute": False,
            "flags": 0,
            "nick": None,
            "avatar": None,
            "premium_since": None,
            "pending": False,
        }

    def message(
        self,
        channel_id: int,
        content: str,
        author: dict[str, Any],
        *,
        reply_to: int | None = None,
        flags: int = 0,
        attachments: list[dict[str, Any]] | None = None,
        webhook_id: int | None = None,
        nonce: str | None = None,
    ) -> dict[str, Any]:
        """A stored message, as Discord would return it."""
        message_id = self.next_id()
        message: dict[str, Any] = {
            "id": str(message_id),
            "channel_id": str(channel_id),
            "guild_id": str(GUILD),
            "type": 19 if reply_to else 0,
            "content": content,
            "author": author,
            "timestamp": _now(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": attachments or [],
            "embeds": [],
            "pinned": False,
            "flags": flags,
            "components": [],
        }
        if not author.get("bot"):
            message["member"] = self.member(author)
        if webhook_id is not None:
            message["webhook_id"] = str(webhook_id)
        if nonce is not None:
            message["nonce"] = nonce
        if reply_to is not None:
            message["message_reference"] = {
                "message_id": str(reply_to),
                "channel_id": str(channel_id),
                "guild_id": str(GUILD),
            }
        self.messages[message_id] = message
        return message
