"""The Slack adapter: slack-bolt receives, the Web API port sends.

Inbound (HTTP via Bolt's aiohttp adapter, or Socket Mode): slash commands from the one
command table, 💡/🏷️ reactions, and message posts, edits and deletions; interactive
payloads (the "Save as insight" shortcut and its modal, the menu that picks a DM's
community) are interactions.py's. Every HTTP request's signature and timestamp is
checked by Bolt before any listener runs (bad or stale → 401, nothing happens).

Why everything is acknowledged first: Slack wants an answer within 3 seconds, and a
command may search, summarise or call a model. Listeners `ack()` at once and answer
afterwards (the slash command's `response_url`, `chat.postEphemeral`, a thread reply).

Why the port asks `teams` for a client on every call: with OAuth (oauth.py) each
installed workspace has its own bot token, bot user and bot id; bolt authorizes each
request from the installation store, and outbound calls (relays, rituals) pick the
channel's workspace (`ChannelRef.space`). `app_uninstalled`/`tokens_revoked` forget the
token and pause that workspace's links; its community and data stay.

Why retries are deduplicated in the store: Slack re-sends an event it thinks was missed
(`X-Slack-Retry-Num`), possibly to another process. A middleware takes each `event_id`
in the InboundLog; a delivery already taken gets 200 with `x-slack-no-retry` and no
side effect. Reactions and commands are also deduplicated by the core on their own ids.

Why Hearth's own messages never reach the core: a relayed copy posted here would be
relayed back. Bolt already drops events whose bot_id/user is ours (its self-events
middleware); `_on_message` checks again (a copy under a custom username keeps our
bot_id), and other bots' posts stay out as before.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import modal
from adapters.slack.config import SlackConfig
from adapters.slack.endpoints import Endpoints
from adapters.slack.history import POSTED_SUBTYPES
from adapters.slack.installations import InstallRecords
from adapters.slack.interactions import Interactions, Respond, answer
from adapters.slack.oauth import build_oauth
from adapters.slack.outbound import PLATFORM, SlackPort, chat_message
from adapters.slack.teams import SingleTeam
from adapters.slack.text import to_plain
from adapters.slack.webapi import error_code, make_client, plain_message
from bot.direct import CHOICE_ID
from bot.events import (
    ChannelRef,
    CommandInvoked,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    MessageRef,
    ReactionAdded,
    UserRef,
)
from bot.inbound import Answer, EventLog, Inbound
from bot.ops.server import OpsServer
from bot.port import DeliveryError

log = structlog.get_logger(__name__)

NOT_INSTALLED = (
    "Hearth is not installed in this workspace any more; a workspace admin can add it "
    "again from Hearth's install page."
)


class SlackAdapter(SlackPort):
    """Adapter protocol (`connect`/`start`/`wait_closed`/`stop`) plus the outbound port."""

    def __init__(
        self,
        config: SlackConfig,
        inbound_log: EventLog,
        *,
        client: AsyncWebClient | None = None,
        server: OpsServer | None = None,
        installs: InstallRecords | None = None,
    ) -> None:
        client = client or make_client(config.bot_token, config.api_url, config.rate_limit_retries)
        self._oauth = build_oauth(config, installs, client) if config.oauth else None
        self._single = None if self._oauth else SingleTeam(client, config)
        super().__init__(self._oauth.teams if self._oauth else self._single)  # type: ignore[arg-type]
        self.client = client
        self.config = config
        self._seen = inbound_log
        self._prefix = "/" + config.command_prefix
        self._inbound: Inbound | None = None
        self._closed = asyncio.Event()
        self._socket: AsyncSocketModeHandler | None = None
        self.on_delivered: Callable[[str], None] | None = None  # event ids, for tests/metrics
        self.listening = asyncio.Event()  # requests are answered from now on
        self.app = self._build_app()
        # the process's ops server (`server`) mounts the endpoints; else a listener of their own
        self._endpoints = Endpoints(self.app, config, server)

    # lifecycle -----------------------------------------------------------------------

    async def connect(self) -> None:
        """Check the token (`auth.test`) so a bad one fails at start-up, not mid-ritual.
        With OAuth each workspace's token is checked by bolt at its first request."""
        if self._single is None:
            log.info("slack.oauth_ready", install_path=self.config.install_path)
            return
        team = await self._single.identify()
        self.remember_url(team)
        log.info("slack.connected", team=team.id, bot=team.bot_user_id)

    async def start(self, inbound: Inbound) -> None:
        self._inbound = inbound
        if self.config.mode == "socket":
            self._socket = AsyncSocketModeHandler(
                self.app, self.config.app_token, web_client=self.client
            )
            await self._socket.connect_async()  # type: ignore[no-untyped-call]
            log.info("slack.socket_mode_connected")
            self.listening.set()
            return
        await self._endpoints.start()
        self.listening.set()

    @property
    def http_port(self) -> int | None:
        """The port of the endpoints' own listener (None when mounted on the ops server)."""
        return self._endpoints.port

    async def readiness(self) -> str | None:
        if self._closed.is_set():
            return "the Slack adapter has stopped"
        if self._single is not None and not self._single.team.id:
            return "auth.test has not passed yet"
        if self.config.mode == "http" and not self._endpoints.serving:
            return "the Slack Events endpoint is not listening"
        return None

    async def wait_closed(self) -> None:
        await self._closed.wait()

    async def stop(self) -> None:
        if self._socket is not None:
            await self._socket.close_async()  # type: ignore[no-untyped-call]
            self._socket = None
        await self._endpoints.stop()
        self._closed.set()

    # the Bolt app --------------------------------------------------------------------

    def _build_app(self) -> AsyncApp:
        http = self.config.mode == "http"
        oauth = self._oauth
        app = AsyncApp(
            client=self.client,
            signing_secret=self.config.signing_secret if http else "unused-in-socket-mode",
            request_verification_enabled=http,
            process_before_response=False,
            name="hearth",
            oauth_settings=oauth.settings if oauth else None,
            authorize=oauth.authorize if oauth else None,  # type: ignore[arg-type]
            user_facing_authorize_error_message=NOT_INSTALLED,
        )
        app.middleware(self._dedupe_deliveries)
        pattern = re.compile(rf"^/{re.escape(self.config.command_prefix)}[a-z0-9-]+$")
        app.command(pattern)(self._on_command)
        interactions = Interactions(self, lambda: self.inbound, self._prefix)
        app.shortcut(modal.CALLBACK_ID)(interactions.on_shortcut)
        app.view_submission(modal.CALLBACK_ID)(interactions.on_submission)
        app.action(CHOICE_ID)(interactions.on_pick)
        app.event("reaction_added")(self._on_reaction)
        app.event("message")(self._on_message)
        app.event("app_uninstalled")(self._on_workspace_left)
        app.event("tokens_revoked")(self._on_workspace_left)
        return app

    @property
    def inbound(self) -> Inbound:
        if self._inbound is None:
            raise RuntimeError("SlackAdapter.start() has not been called")
        return self._inbound

    async def _dedupe_deliveries(
        self, body: dict[str, Any], next: Callable[[], Awaitable[BoltResponse | None]]
    ) -> BoltResponse | None:
        """Skip an event whose `event_id` was already taken (a Slack retry, another process)."""
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if event_id and not await self._seen.take(PLATFORM, f"delivery:{event_id}"):
            log.info("slack.retry_skipped", event_id=event_id)
            return BoltResponse(status=200, body="", headers={"x-slack-no-retry": "1"})
        return await next()

    async def _delivered(self, body: dict[str, Any]) -> None:
        event_id = body.get("event_id")
        if event_id:
            await self._seen.done(PLATFORM, f"delivery:{event_id}")
            if self.on_delivered is not None:
                self.on_delivered(str(event_id))

    # slash commands ------------------------------------------------------------------

    async def _on_command(
        self, ack: Callable[..., Awaitable[None]], body: dict[str, Any], respond: Respond
    ) -> None:
        await ack()
        name = str(body.get("command", "")).removeprefix(self._prefix)
        team, channel_id = str(body.get("team_id", "")), str(body.get("channel_id", ""))
        user_id = str(body.get("user_id", ""))
        try:
            event = CommandInvoked(
                name=name,
                invoker=await (await self.teams.get(team)).workspace.actor(user_id),
                channel=ChannelRef(PLATFORM, team, channel_id),
                event_id=f"command:{body.get('trigger_id') or body.get('response_url')}",
                text=to_plain(str(body.get("text") or ""), keep_channels=True),
                direct=channel_id.startswith("D"),
            )

            async def deliver(said: Answer) -> None:  # a response_url is never redelivered
                reply = said.reply
                await answer(respond, reply.text, ephemeral=reply.ephemeral, choices=reply.choices)

            await self.inbound.command(event, self, self._prefix, deliver)
        except DeliveryError as exc:
            log.warning("slack.command_failed", command=name, error=error_code(exc))
            await answer(respond, plain_message(exc), ephemeral=True)

    # events --------------------------------------------------------------------------

    async def _on_reaction(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        item = event.get("item") or {}
        try:
            team = await self.teams.get(str(body.get("team_id", "")))
            if item.get("type") == "message" and event.get("user") != team.bot_user_id:
                channel = ChannelRef(
                    PLATFORM, team.id or str(body.get("team_id", "")), str(item["channel"])
                )
                await self.inbound.reaction(
                    ReactionAdded(
                        MessageRef(channel, str(item["ts"])),
                        str(event.get("reaction", "")).split("::")[0],
                        await team.workspace.actor(str(event.get("user", ""))),
                        event_id=str(body.get("event_id")),
                    ),
                    self,
                    self._prefix,
                )
        except DeliveryError as exc:
            log.warning("slack.reaction_failed", error=error_code(exc))
        await self._delivered(body)

    async def _on_message(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        channel = ChannelRef(PLATFORM, str(body.get("team_id", "")), str(event.get("channel", "")))
        subtype = event.get("subtype")
        try:
            if subtype == "message_changed":
                await self._changed(channel, event)
            elif subtype == "message_deleted":
                previous = event.get("previous_message") or {}
                ts = str(event.get("deleted_ts") or previous.get("ts") or "")
                thread = previous.get("thread_ts")
                await self.inbound.message_deleted(
                    MessageDeleted(MessageRef(channel, ts, thread_id=thread))
                )
            elif (
                subtype in POSTED_SUBTYPES
                and not event.get("bot_id")
                and not await self.is_own(channel.space, event)
            ):
                team = await self.teams.get(channel.space)
                message = await chat_message(team.workspace, channel, event)
                thread = message.ref.thread_id
                reply_to = (
                    MessageRef(channel, thread, thread_id=thread)
                    if thread and thread != message.ref.message_id
                    else None
                )
                await self.inbound.message_posted(MessagePosted(message, reply_to), self)
        except DeliveryError as exc:
            log.warning("slack.message_failed", subtype=subtype, error=error_code(exc))
        await self._delivered(body)

    async def _changed(self, channel: ChannelRef, event: dict[str, Any]) -> None:
        """An edit; Slack also sends message_changed for unfurls and reply counts: skip those.

        A thread root deleted while it has replies is not removed but becomes a
        `tombstone` ("This message was deleted."), announced as message_changed: that is
        a deletion, not an edit.
        """
        message = event.get("message") or {}
        previous = event.get("previous_message") or {}
        thread = message.get("thread_ts") or previous.get("thread_ts")
        ref = MessageRef(channel, str(message.get("ts") or previous.get("ts") or ""), thread)
        if message.get("subtype") == "tombstone":
            await self.inbound.message_deleted(MessageDeleted(ref))
            return
        if message.get("bot_id") or await self.is_own(channel.space, message):
            return
        if message.get("text") == previous.get("text"):
            return
        team = await self.teams.get(channel.space)
        user = await team.workspace.user(str(message.get("user", "")))
        markup = str(message.get("text") or "")
        await self.inbound.message_edited(
            MessageEdited(
                ref, to_plain(markup), UserRef(PLATFORM, user.id, user.name), markup=markup
            )
        )

    # the workspace leaves -------------------------------------------------------------

    async def _on_workspace_left(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        """`app_uninstalled`, or `tokens_revoked` naming the bot's token (Hearth keeps no
        user tokens): the token is dead; its links pause, its community stays."""
        why = str(event.get("type"))
        if why == "app_uninstalled" or (event.get("tokens") or {}).get("bot"):
            team = str(body.get("team_id", ""))
            if self._oauth is not None:
                enterprise = str(body.get("enterprise_id") or "")
                store = self._oauth.installations
                await store.async_delete_bot(enterprise_id=enterprise, team_id=team)
            self.teams.forget(team)
            log.warning("slack.workspace_left", team=team, why=why, oauth=self._oauth is not None)
        await self._delivered(body)
