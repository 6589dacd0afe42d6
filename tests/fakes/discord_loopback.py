"""A loopback Discord on 127.0.0.1: enough gateway and REST for the real discord.py client.

The gateway speaks HELLO, IDENTIFY → READY + GUILD_CREATE, heartbeat/ACK, RESUME (replaying
what a dropped connection missed), zlib-stream, and shards. REST answers the routes the
adapter calls, records every call, and can answer 429 with `retry_after` the way Discord
does (a `Via` header and a JSON body; see /work/shared/notes/discord-loopback.md).
Tests synchronise on recorded calls (`wait_call`), never on sleeps.

Channel webhooks (list, create, execute with `wait`/`thread_id`, edit and delete a webhook
message) behave as Discord's do: a webhook message's author is the webhook (`bot: true`,
the `username` it was sent with), it carries `webhook_id`, and it is echoed on the gateway
as MESSAGE_CREATE. Channels in `webhooks_forbidden` answer 403 (no Manage Webhooks).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import discord
import pytest
import yarl
from aiohttp import WSMsgType, web

TOKEN = "loopback-token"
APP_ID = 1_000_000_000_000_000_001
GUILD = 1_000_000_000_000_000_100
CHANNEL = 1_000_000_000_000_000_200
OTHER_CHANNEL = 1_000_000_000_000_000_201
THREAD = 1_000_000_000_000_000_300
CURATOR_ROLE = 1_000_000_000_000_000_400
STEWARD_ROLE = 1_000_000_000_000_000_401
MANAGE_GUILD = 1 << 5
WAIT_SECONDS = 10.0  # a bound on any wait, so a broken test fails instead of hanging
EVERYONE_PERMISSIONS = 0b1111111111111111111111110 & ~MANAGE_GUILD & ~(1 << 3)


def _user(user_id: int, name: str, bot: bool = False) -> dict[str, Any]:
    return {
        "id": str(user_id),
        "username": name,
        "global_name": name.title(),
        "discriminator": "0",
        "avatar": None,
        "bot": bot,
    }


BOT = _user(1_000_000_000_000_000_002, "hearth", bot=True)
ALICE = _user(1_000_000_000_000_000_010, "alice")
BOB = _user(1_000_000_000_000_000_011, "bob")


def _now() -> str:
    return datetime.now(UTC).isoformat()


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    status: int = 200


@dataclass
class _Connection:
    ws: web.WebSocketResponse
    compress: bool
    zlib: Any = field(default_factory=zlib.compressobj)

    async def send(self, payload: dict[str, Any]) -> None:
        data = json.dumps(payload)
        if self.compress:
            await self.ws.send_bytes(
                self.zlib.compress(data.encode()) + self.zlib.flush(zlib.Z_SYNC_FLUSH)
            )
        else:
            await self.ws.send_str(data)


@dataclass
class _Session:
    session_id: str
    shard: tuple[int, int]
    seq: int = 0
    sent: list[dict[str, Any]] = field(default_factory=list)
    connection: _Connection | None = None


class DiscordLoopback:
    def __init__(self, shards: int = 1) -> None:
        self.shards = shards
        self.calls: list[Call] = []
        self.gateway_log: list[dict[str, Any]] = []  # every op a client sent us
        self.messages: dict[int, dict[str, Any]] = {}
        self.commands: dict[str, list[dict[str, Any]]] = {}
        self.webhooks: dict[int, dict[str, Any]] = {}  # by id
        self.webhooks_forbidden: set[int] = set()  # channels where the bot lacks the right
        self.channels_gone: set[int] = set()  # channels deleted (their webhook routes 404)
        self._echo: list[dict[str, Any]] = []  # messages to send as MESSAGE_CREATE
        self.sessions: dict[int, _Session] = {}  # by shard id
        self._by_id: dict[str, _Session] = {}
        self._limits: list[tuple[str, re.Pattern[str], float, bool]] = []
        self._ids = itertools.count(1_200_000_000_000_000_000)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # server ------------------------------------------------------------------------

    @property
    def rest_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/", self._gateway)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[attr-defined]
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def stop(self) -> None:
        for session in self.sessions.values():
            if session.connection is not None:
                await session.connection.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def next_id(self) -> int:
        return next(self._ids)

    async def _changed_now(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, check: Callable[[], Any]) -> Any:
        """Until `check()` is truthy (re-checked whenever a call or gateway op arrives)."""

        async def wait() -> Any:
            async with self._changed:
                while not (result := check()):
                    await self._changed.wait()
                return result

        return await asyncio.wait_for(wait(), WAIT_SECONDS)

    def find(self, method: str, pattern: str, status: int | None = 200) -> list[Call]:
        """Calls by method and path; `status` 200 means any success, None any answer."""
        regex = re.compile(pattern)

        def wanted(code: int) -> bool:
            return status is None or (200 <= code < 300 if status == 200 else code == status)

        return [
            c
            for c in self.calls
            if c.method == method and regex.search(c.path) and wanted(c.status)
        ]

    async def wait_call(self, method: str, pattern: str, count: int = 1) -> list[Call]:
        found: list[Call] = await self.wait_for(
            lambda: (calls := self.find(method, pattern)) and len(calls) >= count and calls
        )
        return found

    # gateway -----------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        connection = _Connection(ws, request.query.get("compress") == "zlib-stream")
        await connection.send({"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None})
        async for frame in ws:
            if frame.type is not WSMsgType.TEXT:
                continue
            payload = json.loads(frame.data)
            self.gateway_log.append(payload)
            op, data = payload.get("op"), payload.get("d")
            if op == 1:
                await connection.send({"op": 11, "d": None, "s": None, "t": None})
            elif op == 2:
                await self._identify(connection, data)
            elif op == 6:
                await self._resume(connection, data)
            await self._changed_now()
        return ws

    def guild_ids(self, shard: tuple[int, int]) -> list[int]:
        return [g for g in (GUILD,) if (g >> 22) % shard[1] == shard[0]]

    async def _identify(self, connection: _Connection, data: dict[str, Any]) -> None:
        shard_id, count = data.get("shard") or [0, 1]
        session = _Session(f"session-{self.next_id()}", (shard_id, count))
        session.connection = connection
        self.sessions[shard_id] = session
        self._by_id[session.session_id] = session
        guilds = self.guild_ids(session.shard)
        await self.dispatch(
            "READY",
            {
                "v": 10,
                "user": BOT,
                "guilds": [{"id": str(g), "unavailable": True} for g in guilds],
                "session_id": session.session_id,
                "resume_gateway_url": self.ws_url,
                "shard": [shard_id, count],
                "application": {"id": str(APP_ID), "flags": 0},
                "private_channels": [],
                "relationships": [],
            },
            shard=shard_id,
        )
        for guild in guilds:
            await self.dispatch("GUILD_CREATE", self.guild_payload(guild), shard=shard_id)

    async def _resume(self, connection: _Connection, data: dict[str, Any]) -> None:
        session = self._by_id[data["session_id"]]
        session.connection = connection
        for payload in session.sent:
            if payload["s"] > data["seq"]:
                await connection.send(payload)
        await self.dispatch("RESUMED", {}, shard=session.shard[0])

    @property
    def guild_shard(self) -> int:
        return (GUILD >> 22) % self.shards

    async def dispatch(self, event: str, data: dict[str, Any], shard: int | None = None) -> None:
        """Send a dispatch; while the shard is disconnected it waits for RESUME's replay."""
        session = self.sessions[self.guild_shard if shard is None else shard]
        session.seq += 1
        payload = {"op": 0, "t": event, "s": session.seq, "d": data}
        session.sent.append(payload)
        if session.connection is not None:
            await session.connection.send(payload)

    async def drop(self, shard: int | None = None, code: int = 4000) -> None:
        """Close the shard's connection as a network fault would; the client should RESUME."""
        session = self.sessions[self.guild_shard if shard is None else shard]
        connection, session.connection = session.connection, None
        if connection is not None:
            await connection.ws.close(code=code)

    def resumes(self) -> list[dict[str, Any]]:
        return [p for p in self.gateway_log if p.get("op") == 6]

    def identifies(self) -> list[dict[str, Any]]:
        return [p for p in self.gateway_log if p.get("op") == 2]

    # payloads ----------------------------------------------------------------------

    def channel_payload(self, channel_id: int) -> dict[str, Any]:
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

        return {
            "id": str(guild_id),
            "name": "The Guild",
            "owner_id": "1",
            "roles": [
                role(guild_id, "@everyone", 0, EVERYONE_PERMISSIONS),
                role(CURATOR_ROLE, "Curator", 1, EVERYONE_PERMISSIONS),
                role(STEWARD_ROLE, "Steward", 2, EVERYONE_PERMISSIONS),
            ],
            "channels": [self.channel_payload(CHANNEL), self.channel_payload(OTHER_CHANNEL)],
            "threads": [self.channel_payload(THREAD)],
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

    # what people do ----------------------------------------------------------------

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
            "guild_id": str(GUILD),
            "channel_id": str(channel_id),
            "channel": {**self.channel_payload(channel_id), "permissions": str(permissions)},
            "member": member,
            "data": data,
            "app_permissions": str(EVERYONE_PERMISSIONS),
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(GUILD)},
            "context": 0,
            "attachment_size_limit": 8 * 1024 * 1024,
        }

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

    # REST --------------------------------------------------------------------------

    def rate_limit_next(self, method: str, pattern: str, retry_after: float = 0.05) -> None:
        """The next matching request gets a 429 asking to retry after `retry_after` s."""
        self._limits.append((method, re.compile(pattern), retry_after, False))

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        body: Any = None
        if request.can_read_body:
            if request.content_type == "application/json":
                body = await request.json()
            elif request.content_type.startswith("multipart/"):
                reader = await request.multipart()
                async for part in reader:
                    if getattr(part, "name", None) == "payload_json":
                        body = json.loads(await part.text())  # type: ignore[union-attr]
        call = Call(request.method, path, dict(request.query), body)
        self.calls.append(call)
        try:
            for index, (method, pattern, retry_after, is_global) in enumerate(self._limits):
                if method == request.method and pattern.search(path):
                    del self._limits[index]
                    call.status = 429
                    return _json(
                        {
                            "message": "You are being rate limited.",
                            "retry_after": retry_after,
                            "global": is_global,
                        },
                        429,
                        {"Via": "1.1 google", "X-RateLimit-Scope": "user"},
                    )
            if request.headers.get("Authorization") not in (f"Bot {TOKEN}", None):
                call.status = 401
                return _json({"message": "401: Unauthorized", "code": 0}, 401)
            status, answer = self._answer(request.method, path, call)
            call.status = status
            while self._echo:
                await self.dispatch("MESSAGE_CREATE", self._echo.pop(0))
            if status == 204:
                return web.Response(status=204)
            return _json(answer, status)
        finally:
            await self._changed_now()

    def _answer(self, method: str, path: str, call: Call) -> tuple[int, Any]:
        body = call.body or {}
        if path == "/users/@me":
            return 200, BOT
        if path == "/oauth2/applications/@me":
            return 200, {
                "id": str(APP_ID),
                "name": "Hearth",
                "icon": None,
                "description": "",
                "bot_public": False,
                "bot_require_code_grant": False,
                "owner": ALICE,
                "verify_key": "0" * 64,
                "flags": 0,
            }
        if path == "/gateway/bot":
            limit = {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}
            return 200, {"url": self.ws_url, "shards": self.shards, "session_start_limit": limit}
        if path == "/gateway":
            return 200, {"url": self.ws_url}
        if match := re.fullmatch(r"/applications/\d+(?:/guilds/(\d+))?/commands", path):
            scope = match.group(1) or "global"
            self.commands[scope] = [
                {**c, "id": str(self.next_id()), "application_id": str(APP_ID), "version": "1"}
                for c in body
            ]
            return 200, self.commands[scope]
        if match := re.fullmatch(r"/interactions/(\d+)/([^/]+)/callback", path):
            return 200, self._interaction_callback(int(match.group(1)), match.group(2), body)
        if match := re.fullmatch(r"/channels/(\d+)/webhooks", path):
            channel_id = int(match.group(1))
            if channel_id in self.channels_gone:
                return 404, {"message": "Unknown Channel", "code": 10003}
            if channel_id in self.webhooks_forbidden:
                return 403, {"message": "Missing Permissions", "code": 50013}
            if method == "POST":
                return 200, self.create_webhook(channel_id, body.get("name", ""))
            return 200, [w for w in self.webhooks.values() if w["channel_id"] == str(channel_id)]
        if (match := re.fullmatch(r"/webhooks/(\d+)/([^/]+)(?:/messages/(\d+))?", path)) and int(
            match.group(1)
        ) in self.webhooks:
            return self._webhook(method, call, int(match.group(1)), match.group(2), match.group(3))
        if match := re.fullmatch(r"/webhooks/(\d+)/([^/]+)(?:/messages/(@original|\d+))?", path):
            if int(match.group(1)) != APP_ID:  # a channel webhook someone deleted
                return 404, {"message": "Unknown Webhook", "code": 10015}
            if method == "DELETE":
                return 204, None
            data = body if isinstance(body, dict) else {}
            return 200, self.message(
                CHANNEL, data.get("content", ""), BOT, flags=data.get("flags", 0)
            )
        if match := re.fullmatch(r"/channels/(\d+)/messages/(\d+)/threads", path):
            return 200, {**self.channel_payload(THREAD), "id": match.group(2)}
        if re.fullmatch(r"/channels/\d+/messages/\d+/reactions/.+/@me", path):
            return 204, None
        if match := re.fullmatch(r"/channels/(\d+)/messages/(\d+)", path):
            message = self.messages.get(int(match.group(2)))
            if message is None or message["channel_id"] != match.group(1):
                return 404, {"message": "Unknown Message", "code": 10008}
            if method == "DELETE":
                del self.messages[int(match.group(2))]
                return 204, None
            if method == "PATCH":
                message.update(
                    content=body.get("content", message["content"]), edited_timestamp=_now()
                )
            return 200, message
        if match := re.fullmatch(r"/channels/(\d+)/messages", path):
            channel_id = int(match.group(1))
            if method == "POST":
                nonce = body.get("nonce")
                if nonce is not None and body.get("enforce_nonce"):
                    for earlier in self.messages.values():
                        if earlier.get("nonce") == nonce and earlier["author"] is BOT:
                            return 200, earlier
                reference = (body.get("message_reference") or {}).get("message_id")
                return 200, self.message(
                    channel_id,
                    body.get("content", ""),
                    BOT,
                    reply_to=int(reference) if reference else None,
                    nonce=nonce,
                )
            found = [m for m in self.messages.values() if m["channel_id"] == str(channel_id)]
            found.sort(key=lambda m: int(m["id"]), reverse=True)
            return 200, found[: int(call.query.get("limit", 100))]
        return 404, {"message": "404: Not Found", "code": 0}

    def _webhook(
        self, method: str, call: Call, webhook_id: int, token: str, message_id: str | None
    ) -> tuple[int, Any]:
        """Execute a channel webhook, or edit or delete a message it posted."""
        webhook = self.webhooks[webhook_id]
        if token != webhook["token"]:
            return 401, {"message": "Invalid Webhook Token", "code": 50027}
        body = call.body or {}
        channel_id = int(call.query.get("thread_id") or webhook["channel_id"])
        if message_id is None:
            if method != "POST":
                return 405, {"message": "405: Method Not Allowed", "code": 0}
            username = body.get("username") or webhook["name"]
            message = self._webhook_message(webhook, body.get("content", ""), username, channel_id)
            self._echo.append(message)
            return (200, message) if call.query.get("wait") in ("1", "true") else (204, None)
        message = self.messages.get(int(message_id))
        if (
            message is None
            or message.get("webhook_id") != str(webhook_id)
            or message["channel_id"] != str(channel_id)
        ):
            return 404, {"message": "Unknown Message", "code": 10008}
        if method == "DELETE":
            del self.messages[int(message_id)]
            return 204, None
        if method == "PATCH":
            message.update(content=body.get("content", message["content"]), edited_timestamp=_now())
        return 200, message

    def _interaction_callback(self, interaction_id: int, token: str, body: dict[str, Any]) -> Any:
        kind = body.get("type")
        data = body.get("data") or {}
        resource: dict[str, Any] = {"type": kind}
        answer: dict[str, Any] = {"id": str(interaction_id), "type": 2}
        if kind in (4, 5):
            message = self.message(
                CHANNEL, data.get("content", ""), BOT, flags=data.get("flags", 0)
            )
            resource["message"] = message
            answer.update(
                response_message_id=message["id"],
                response_message_loading=kind == 5,
                response_message_ephemeral=bool(data.get("flags", 0) & 64),
            )
        return {"interaction": answer, "resource": resource}


def _json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    # Exactly `application/json`: discord.py compares the header string (no charset).
    return web.Response(
        body=json.dumps(payload).encode(),
        status=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


@contextlib.asynccontextmanager
async def serving(
    monkeypatch: pytest.MonkeyPatch, shards: int = 1
) -> AsyncIterator[DiscordLoopback]:
    """A running loopback Discord, with discord.py pointed at it until the block ends."""
    server = DiscordLoopback(shards)
    await server.start()
    monkeypatch.setattr(discord.http.Route, "BASE", server.rest_base)
    monkeypatch.setattr(
        discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(server.ws_url)
    )
    try:
        yield server
    finally:
        await server.stop()
