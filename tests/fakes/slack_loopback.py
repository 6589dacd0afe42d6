"""A loopback Slack for tests: the Web API methods the adapter uses, response_url, a
Socket Mode WebSocket, and helpers that sign requests the way Slack does.

Why a real server rather than mocks: the adapter's client, Bolt's verification and the
aiohttp plumbing all run for real; only slack.com is replaced by 127.0.0.1.

Messages live in `messages` (per channel) as Slack stores them: what the bot posts is
added there (with its bot_id; under a custom `username` as a `bot_message`), edited by
chat.update and removed by chat.delete, so conversations.history/replies read it back.
Reads page like Slack (`limit`, `cursor`, at most `page_cap` per page) and leave out
message metadata unless asked for it (`include_all_metadata`).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

import aiohttp
from aiohttp import web

SECRET = "test-signing-secret"
TEAM = "T1"
BOT_USER = "UBOT"
BOT_ID = "BBOT"
CLIENT_ID = "111.222"
CLIENT_SECRET = "test-client-secret"


@dataclass
class Workspace:
    """A workspace Hearth's app can be installed to, with the bot user it gets there."""

    team_id: str
    name: str
    bot_user: str
    bot_id: str

    @property
    def url(self) -> str:
        return f"https://{self.name.lower().replace(' ', '-')}.slack.com/"


DEFAULT_WORKSPACE = Workspace(TEAM, "Hearth Test", BOT_USER, BOT_ID)


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    token: str | None = None  # the bearer token the call carried
    at: float = field(default_factory=time.monotonic)  # arrival, as Slack would see it


@dataclass
class Answer:
    """A canned answer for the next call of a method (status, body, headers)."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class LoopbackSlack:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.responses: list[dict[str, Any]] = []  # bodies POSTed to response_url
        self.messages: dict[str, list[dict[str, Any]]] = {}  # channel → messages
        self.users: dict[str, dict[str, Any]] = {}
        self.groups: dict[str, list[str]] = {}
        self.queued: dict[str, list[Answer]] = {}
        self.envelope_acks: list[dict[str, Any]] = []
        self._changed = asyncio.Condition()
        self._ts = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._sockets: list[web.WebSocketResponse] = []
        self.socket_ready = asyncio.Event()
        self.port = 0
        self.page_cap = 1000  # the most messages one history/replies page returns
        self.hold_responses: asyncio.Event | None = None  # response_url POSTs wait for it
        # OAuth: codes Slack handed to installers, the tokens it issued, refresh tokens
        self.codes: dict[str, Workspace] = {}
        self.tokens: dict[str, Workspace] = {}
        self.refresh_tokens: dict[str, Workspace] = {}
        self.revoked: set[str] = set()
        self.rotation_seconds: int | None = None  # set: tokens expire and come with refresh
        self._serial = itertools.count(1)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def response_url(self, name: str = "r1") -> str:
        return f"http://127.0.0.1:{self.port}/respond/{name}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)  # slack_sdk GETs some read methods
        app.router.add_post("/respond/{name}", self._respond)
        app.router.add_get("/link", self._link)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def close(self) -> None:
        for ws in self._sockets:
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # fixtures for content ------------------------------------------------------------

    def add_message(
        self,
        channel: str,
        user: str,
        text: str,
        ts: str,
        thread_ts: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        message: dict[str, Any] = {"type": "message", "user": user, "text": text, "ts": ts}
        if thread_ts:
            message["thread_ts"] = thread_ts
        message.update(extra)
        self.messages.setdefault(channel, []).append(message)
        return message

    def add_user(self, user_id: str, name: str, **flags: bool) -> None:
        self.users[user_id] = {
            "id": user_id,
            "name": name,
            "profile": {"display_name": name, "image_192": avatar(user_id)},
            **flags,
        }

    def find(self, channel: str, ts: str) -> dict[str, Any] | None:
        return next((m for m in self.messages.get(channel, []) if m["ts"] == ts), None)

    def authorize(self, workspace: Workspace) -> str:
        """What Slack does when someone in `workspace` approves the install: a one-time
        code for the redirect."""
        code = f"code-{workspace.team_id}-{next(self._serial)}"
        self.codes[code] = workspace
        return code

    def uninstall(self, team_id: str) -> None:
        """The workspace removed the app: every token Slack issued there stops working."""
        for token, workspace in list(self.tokens.items()):
            if workspace.team_id == team_id:
                self.revoked.add(token)

    def token_of(self, team_id: str) -> str:
        """The newest live token issued for the workspace."""
        live = [t for t, w in self.tokens.items() if w.team_id == team_id and t not in self.revoked]
        return live[-1]

    def queue(self, method: str, answer: Answer) -> None:
        self.queued.setdefault(method, []).append(answer)

    # waiting -------------------------------------------------------------------------

    def named(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Until `predicate()` holds; woken by every recorded call, no polling. The 60 s
        limit only guards against hangs (a loaded machine is slow, not broken)."""
        async with asyncio.timeout(60), self._changed:
            await self._changed.wait_for(predicate)

    async def wait_calls(self, method: str, count: int = 1) -> list[Call]:
        await self.wait_for(lambda: len(self.named(method)) >= count)
        return self.named(method)

    async def _record(
        self, call: Call | None = None, response: dict[str, Any] | None = None
    ) -> None:
        async with self._changed:
            if call is not None:
                self.calls.append(call)
            if response is not None:
                self.responses.append(response)
            self._changed.notify_all()

    # the Web API ---------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        raw = await request.text()
        if request.content_type == "application/json":
            params: dict[str, Any] = json.loads(raw or "{}")
        else:
            params = dict(parse_qsl(raw))
            params.update(request.query)
        authorization = request.headers.get("Authorization", "")
        token = (
            authorization.removeprefix("Bearer ") if authorization.startswith("Bearer ") else None
        )
        token = token or params.get("token")
        await self._record(Call(method, params, token))
        queued = self.queued.get(method)
        if queued:
            answer = queued.pop(0)
            return web.json_response(answer.body, status=answer.status, headers=answer.headers)
        if method == "oauth.v2.access":
            return web.json_response(self._oauth(params, authorization))
        if token in self.revoked:
            return web.json_response({"ok": False, "error": "token_revoked"})
        workspace = self.tokens.get(token or "", DEFAULT_WORKSPACE)
        return web.json_response({"ok": True, **self._answer(method, params, workspace)})

    def _oauth(self, p: dict[str, Any], authorization: str) -> dict[str, Any]:
        """oauth.v2.access: a code (once) or a refresh token for a bot token."""
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if authorization != f"Basic {expected}":
            return {"ok": False, "error": "invalid_client_id"}
        if p.get("grant_type") == "refresh_token":
            workspace = self.refresh_tokens.pop(str(p.get("refresh_token")), None)
            if workspace is None:
                return {"ok": False, "error": "invalid_refresh_token"}
            self.uninstall(workspace.team_id)  # the tokens it replaces are refused from now on
            return {"ok": True, **self._issue(workspace), "team": {"id": workspace.team_id}}
        workspace = self.codes.pop(str(p.get("code")), None)
        if workspace is None:
            return {"ok": False, "error": "invalid_code"}
        return {
            "ok": True,
            "app_id": "A1",
            "authed_user": {"id": "UINSTALLER"},
            "scope": "commands,chat:write",
            "bot_user_id": workspace.bot_user,
            "team": {"id": workspace.team_id, "name": workspace.name},
            "enterprise": None,
            "is_enterprise_install": False,
            **self._issue(workspace),
        }

    def _issue(self, workspace: Workspace) -> dict[str, Any]:
        token = f"xoxb-{workspace.team_id}-{next(self._serial)}"
        self.tokens[token] = workspace
        issued: dict[str, Any] = {"access_token": token, "token_type": "bot"}
        if self.rotation_seconds is not None:
            refresh = f"xoxe-{workspace.team_id}-{next(self._serial)}"
            self.refresh_tokens[refresh] = workspace
            issued.update(refresh_token=refresh, expires_in=self.rotation_seconds)
        return issued

    def _answer(
        self, method: str, p: dict[str, Any], workspace: Workspace = DEFAULT_WORKSPACE
    ) -> dict[str, Any]:
        if method == "auth.test":
            return {
                "user_id": workspace.bot_user,
                "bot_id": workspace.bot_id,
                "team_id": workspace.team_id,
                "team": workspace.name,
                "url": workspace.url
                if workspace is not DEFAULT_WORKSPACE
                else "https://hearth-test.slack.com/",
                "is_enterprise_install": False,
            }
        if method == "chat.postMessage":
            return self._post(p, workspace)
        if method == "chat.update":
            return self._update(p)
        if method == "chat.delete":
            channel, ts = str(p.get("channel")), str(p.get("ts"))
            found = self.find(channel, ts)
            if found is None:
                return {"ok": False, "error": "message_not_found"}
            self.messages[channel].remove(found)
            return {"channel": channel, "ts": ts}
        if method == "chat.postEphemeral":
            return {"message_ts": f"1800000001.{next(self._ts):06d}"}
        if method == "chat.getPermalink":
            ts = str(p.get("message_ts", "")).replace(".", "")
            return {"permalink": f"https://hearth-test.slack.com/archives/{p.get('channel')}/p{ts}"}
        if method == "conversations.history":
            top = [
                m
                for m in self.messages.get(str(p.get("channel")), [])
                if m.get("thread_ts", m["ts"]) == m["ts"] or m.get("subtype") == "thread_broadcast"
            ]
            newest_first = sorted(_window(top, p), key=_ts_key, reverse=True)
            return self._page(newest_first, p)
        if method == "conversations.replies":
            channel = str(p.get("channel"))
            named = self.find(channel, str(p.get("ts")))
            if named is None:
                return {"ok": False, "error": "thread_not_found"}
            root = str(named.get("thread_ts") or named["ts"])
            head = [m for m in self.messages.get(channel, []) if m["ts"] == root]
            replies = [
                m
                for m in self.messages.get(channel, [])
                if m.get("thread_ts") == root and m["ts"] != root
            ]
            return self._page(head + sorted(_window(replies, p), key=_ts_key), p)
        if method == "users.info":
            user_id = str(p.get("user"))
            return {"user": self.users.get(user_id, {"id": user_id, "name": user_id.lower()})}
        if method == "usergroups.users.list":
            return {"users": self.groups.get(str(p.get("usergroup")), [])}
        if method == "views.open":
            return {
                "view": {
                    "id": "V1",
                    **(
                        p.get("view")
                        if isinstance(p.get("view"), dict)
                        else json.loads(p.get("view") or "{}")
                    ),
                }
            }
        if method == "apps.connections.open":
            return {"url": f"ws://127.0.0.1:{self.port}/link"}
        return {}

    def _post(self, p: dict[str, Any], workspace: Workspace = DEFAULT_WORKSPACE) -> dict[str, Any]:
        channel = str(p.get("channel"))
        ts = f"1800000000.{next(self._ts):06d}"
        message: dict[str, Any] = {
            "type": "message",
            "text": p.get("text") or "",
            "ts": ts,
            "bot_id": workspace.bot_id,
            "app_id": "A1",
        }
        if p.get("username"):  # chat:write.customize: shown under another name
            message.update(subtype="bot_message", username=p["username"])
            if p.get("icon_url"):
                message["icons"] = {"image_48": p["icon_url"], "image_72": p["icon_url"]}
        else:
            message["user"] = workspace.bot_user
        for field_name in ("blocks", "metadata"):
            if p.get(field_name):
                value = p[field_name]
                message[field_name] = json.loads(value) if isinstance(value, str) else value
        thread_ts = p.get("thread_ts")
        if thread_ts:
            parent = self.find(channel, str(thread_ts))
            if parent is None:
                return {"ok": False, "error": "thread_not_found"}
            parent.setdefault("thread_ts", parent["ts"])
            message["thread_ts"] = str(thread_ts)
        self.messages.setdefault(channel, []).append(message)
        return {"channel": channel, "ts": ts, "message": message}

    def _update(self, p: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(p.get("channel")), str(p.get("ts"))
        found = self.find(channel, ts)
        if found is None:
            return {"ok": False, "error": "message_not_found"}
        if "text" in p:
            found["text"] = p["text"]
        for field_name in ("blocks", "metadata"):
            if p.get(field_name):
                value = p[field_name]
                found[field_name] = json.loads(value) if isinstance(value, str) else value
        found["edited"] = {"user": BOT_USER, "ts": f"1800000002.{next(self._ts):06d}"}
        return {"channel": channel, "ts": ts, "text": found["text"]}

    def _page(self, messages: list[dict[str, Any]], p: dict[str, Any]) -> dict[str, Any]:
        """One page of `messages` as Slack pages them; metadata only when asked for."""
        start = int(str(p.get("cursor") or "next:0").removeprefix("next:"))
        size = min(int(p.get("limit") or 100), self.page_cap)
        page = messages[start : start + size]
        if str(p.get("include_all_metadata", "")).lower() not in ("1", "true"):
            page = [{k: v for k, v in m.items() if k != "metadata"} for m in page]
        more = start + size < len(messages)
        return {
            "messages": page,
            "has_more": more,
            "response_metadata": {"next_cursor": f"next:{start + size}" if more else ""},
        }

    async def _respond(self, request: web.Request) -> web.Response:
        if self.hold_responses is not None:
            await self.hold_responses.wait()
        await self._record(response=await request.json())
        return web.Response(text="ok")

    # Socket Mode ---------------------------------------------------------------------

    async def _link(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_json({"type": "hello", "num_connections": 1})
        self.socket_ready.set()
        async for message in ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                async with self._changed:
                    self.envelope_acks.append(json.loads(message.data))
                    self._changed.notify_all()
        return ws

    async def send_envelope(self, kind: str, payload: dict[str, Any], envelope_id: str) -> None:
        await self.socket_ready.wait()
        await self._sockets[-1].send_json(
            {
                "envelope_id": envelope_id,
                "type": kind,
                "payload": payload,
                "accepts_response_payload": kind != "events_api",
                "retry_attempt": 0,
                "retry_reason": "",
            }
        )


def avatar(user_id: str) -> str:
    return f"https://avatars.example.org/{user_id}.png"


def _ts_key(message: dict[str, Any]) -> tuple[int, int]:
    seconds, _, fraction = str(message["ts"]).partition(".")
    return int(seconds), int(fraction or 0)


def _window(messages: list[dict[str, Any]], p: dict[str, Any]) -> list[dict[str, Any]]:
    """Messages between `oldest` and `latest` (both included when `inclusive`)."""
    inclusive = str(p.get("inclusive", "")).lower() in ("1", "true")
    low = _ts_key({"ts": p["oldest"]}) if p.get("oldest") else None
    high = _ts_key({"ts": p["latest"]}) if p.get("latest") else None
    kept = []
    for m in messages:
        key = _ts_key(m)
        if low is not None and (key < low or (key == low and not inclusive)):
            continue
        if high is not None and (key > high or (key == high and not inclusive)):
            continue
        kept.append(m)
    return kept


# signed requests ---------------------------------------------------------------------


def sign(body: str, timestamp: int | None = None, secret: str = SECRET) -> dict[str, str]:
    """The headers Slack sends: v0 HMAC-SHA256 over `v0:{timestamp}:{body}`."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{stamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}"}


@dataclass
class Sent:
    status: int
    text: str
    headers: dict[str, str]


async def send(
    url: str,
    body: str,
    content_type: str,
    *,
    timestamp: int | None = None,
    secret: str = SECRET,
    retry: int | None = None,
) -> Sent:
    headers = {"Content-Type": content_type, **sign(body, timestamp, secret)}
    if retry is not None:
        headers["X-Slack-Retry-Num"] = str(retry)
        headers["X-Slack-Retry-Reason"] = "http_timeout"
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body.encode(), headers=headers) as response,
    ):
        return Sent(response.status, await response.text(), dict(response.headers))


def command_body(
    command: str,
    text: str,
    user: str,
    response_url: str,
    *,
    channel: str = "C1",
    trigger: str = "trig-1",
    team: str = TEAM,
) -> str:
    return urlencode(
        {
            "token": "legacy",
            "team_id": team,
            "team_domain": "hearth-test",
            "channel_id": channel,
            "channel_name": "general",
            "user_id": user,
            "user_name": user.lower(),
            "command": command,
            "text": text,
            "api_app_id": "A1",
            "response_url": response_url,
            "trigger_id": trigger,
        }
    )


def interactive_body(payload: dict[str, Any]) -> str:
    return urlencode({"payload": json.dumps(payload)})


def event_body(
    event: dict[str, Any], event_id: str, workspace: Workspace = DEFAULT_WORKSPACE
) -> str:
    return json.dumps(
        {
            "token": "legacy",
            "team_id": workspace.team_id,
            "api_app_id": "A1",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "event": event,
            "authorizations": [
                {"team_id": workspace.team_id, "user_id": workspace.bot_user, "is_bot": True}
            ],
        }
    )


FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


class EventsEndpoint:
    """For a test's world holding a running SlackAdapter as `adapter`: where to send
    signed requests, and a future per event the adapter has handled (wire
    `adapter.on_delivered = world.done`; `expect` before sending, await after)."""

    adapter: Any  # a SlackAdapter listening on `http_port`
    delivered: dict[str, asyncio.Future[None]]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.adapter.http_port}/slack/events"

    def expect(self, event_id: str) -> asyncio.Future[None]:
        return self.delivered.setdefault(event_id, asyncio.get_running_loop().create_future())

    def done(self, event_id: str) -> None:
        future = self.expect(event_id)
        if not future.done():
            future.set_result(None)
