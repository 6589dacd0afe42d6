"""REST: the routes the adapter calls, every call recorded, 429s on request, webhooks and
interaction callbacks answered as Discord does."""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web

from tests.fakes.discord_loopback.wire import (
    ALICE,
    APP_ID,
    BOT,
    CHANNEL,
    THREAD,
    TOKEN,
    Call,
    _json,
    _now,
)


class Rest:
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

    guild_members: dict[int, set[str]]

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
        if match := re.fullmatch(r"/guilds/(\d+)/members/(\d+)", path):
            guild, user = int(match.group(1)), match.group(2)
            if user not in self.guild_members.get(guild, set()):
                return 404, {"message": "Unknown Member", "code": 10007}
            return 200, self.member({**ALICE, "id": user, "username": f"user{user[-3:]}"})
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
