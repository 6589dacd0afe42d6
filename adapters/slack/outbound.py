"""The outbound port on Slack's Web API: post, edit, delete, react, fetch, permalinks.

Refs: space = team id, channel = channel id, message_id = ts, thread_id = thread_ts.
Every call goes out with the token of the ref's workspace (teams.py: the one `bot_token`,
or that workspace's installation).
Why `fetch_message` tries `conversations.history` and then `conversations.replies`: a
reaction names only a message's ts, and a thread reply is not in the channel's history.

Relayed copies are posted under the original author's name and picture (`username`,
`icon_url`: the `chat:write.customize` scope) and carry their idempotency key as message
metadata (`event_type: hearth_relay`). Why look before posting: Slack has no idempotent
post, so when an earlier attempt may have got through (`maybe_posted`), the only way to
avoid a duplicate is to find our message with that key in the target thread (or the
channel's recent history) and return it. Only then: a lookup costs rate-limited reads.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime
from typing import Any

import structlog
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.teams import Team, Teams
from adapters.slack.text import message_payload, mrkdwn_payload, outbound_mrkdwn, to_plain
from adapters.slack.webapi import call, data
from adapters.slack.workspace import Workspace, avatar_of
from bot.events import Attachment, ChannelRef, ChatMessage, MessageRef, UserRef
from bot.port import Capabilities, OutboundMessage, TargetGone

log = structlog.get_logger(__name__)

PLATFORM = "slack"
THREAD_LIMIT = 1000
RELAY_EVENT = "hearth_relay"  # message metadata event_type of our keyed posts
LOOKBACK = 200  # top-level messages searched for an earlier keyed post
USERNAME_LIMIT = 80  # Slack shows at most this many characters of a custom username
_TS = re.compile(r"^\d{9,11}\.\d{6}$")
_PERMALINK = re.compile(
    r"^https://[\w.-]+/archives/([A-Z0-9]+)/p(\d{9,11})(\d{6})(?:\?(?:.*&)?thread_ts=(\d+\.\d+))?"
)
_CHANNEL_MENTION = re.compile(r"^<#([CGD][A-Z0-9]{2,})(?:\|[^>]*)?>$")
_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{8,}$")
EMOJI_NAMES = {"💡": "bulb", "🏷️": "label", "🏷": "label", "✅": "white_check_mark", "👀": "eyes"}


def ts_time(ts: str) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(ts), UTC)
    except ValueError:
        return None


class SlackPort:
    platform = PLATFORM
    capabilities = Capabilities(
        threads=True, edits=True, ephemeral=True, native_commands=True, extra=frozenset({"modals"})
    )

    def __init__(self, teams: Teams) -> None:
        self.teams = teams
        self._permalinks: dict[tuple[str, str], str] = {}
        self._urls: dict[str, str] = {}  # team → its workspace URL, once known

    async def _client(self, channel: ChannelRef) -> AsyncWebClient:
        return (await self.teams.get(channel.space)).client

    # posting -------------------------------------------------------------------------

    async def post(
        self,
        channel: ChannelRef,
        message: OutboundMessage,
        *,
        thread: MessageRef | None = None,
        reply_to: MessageRef | None = None,
    ) -> MessageRef:
        """A message in the channel; with `thread` or `reply_to`, in that message's thread."""
        parent = thread or reply_to
        thread_ts = (parent.thread_id or parent.message_id) if parent is not None else None
        key = message.idempotency_key
        if key and message.maybe_posted:
            earlier = await self.find_posted(channel, key, thread_ts)
            if earlier is not None:
                log.info("slack.post_already_made", key=key, ts=earlier.message_id)
                return earlier
        extra: dict[str, Any] = {}
        credit = message.attribution
        if credit is not None:
            extra["username"] = f"{credit.author} ({credit.community})"[:USERNAME_LIMIT]
            extra["icon_url"] = credit.avatar_url
        client = await self._client(channel)
        request = client.chat_postMessage(
            channel=channel.channel,
            thread_ts=thread_ts,
            unfurl_links=False,
            unfurl_media=False,
            **extra,
            **_content(message),
        )
        body = data(await call("chat.postMessage", request))
        return MessageRef(channel, str(body.get("ts") or ""), thread_id=thread_ts)

    async def find_posted(
        self, channel: ChannelRef, key: str, thread_ts: str | None
    ) -> MessageRef | None:
        """Our message carrying idempotency `key`: in the thread `thread_ts` (all of it),
        else among the channel's newest `LOOKBACK` top-level messages. None if absent."""
        team = await self.teams.get(channel.space)
        seen = 0
        cursor: str | None = None
        while True:
            if thread_ts is not None:
                method = "conversations.replies"
                request = team.client.conversations_replies(
                    channel=channel.channel,
                    ts=thread_ts,
                    include_all_metadata=True,
                    limit=200,
                    cursor=cursor,
                )
            else:
                method = "conversations.history"
                request = team.client.conversations_history(
                    channel=channel.channel, include_all_metadata=True, limit=100, cursor=cursor
                )
            body = data(await call(method, request))
            for raw in body.get("messages") or []:
                if is_own(raw, team.bot_user_id, team.bot_id) and relay_key(raw) == key:
                    return MessageRef(channel, str(raw.get("ts") or ""), thread_id=thread_ts)
            seen += len(body.get("messages") or [])
            cursor = (body.get("response_metadata") or {}).get("next_cursor") or None
            limit = THREAD_LIMIT if thread_ts is not None else LOOKBACK
            if not cursor or seen >= limit:
                return None

    async def is_own(self, team_id: str, raw: dict[str, Any]) -> bool:
        """Posted by Hearth's bot in that workspace (also under a custom username: the
        bot_id stays ours)."""
        team = await self.teams.get(team_id)
        return is_own(raw, team.bot_user_id, team.bot_id)

    async def post_ephemeral(
        self, channel: ChannelRef, user_id: str, text: str, *, thread: MessageRef | None = None
    ) -> None:
        """Only `user_id` sees it (Slack keeps no copy, so there is no ref to return)."""
        thread_ts = (thread.thread_id or thread.message_id) if thread is not None else None
        request = (await self._client(channel)).chat_postEphemeral(
            channel=channel.channel, user=user_id, thread_ts=thread_ts, **message_payload(text)
        )
        await call("chat.postEphemeral", request)

    async def edit(self, ref: MessageRef, message: OutboundMessage) -> None:
        """The same rendering as `post` (a relayed copy keeps its username: Slack cannot
        change it, and need not)."""
        request = (await self._client(ref.channel)).chat_update(
            channel=ref.channel.channel, ts=ref.message_id, **_content(message)
        )
        await call("chat.update", request)

    async def delete(self, ref: MessageRef) -> None:
        client = await self._client(ref.channel)
        await call(
            "chat.delete", client.chat_delete(channel=ref.channel.channel, ts=ref.message_id)
        )

    async def react(self, ref: MessageRef, emoji: str) -> None:
        name = EMOJI_NAMES.get(emoji, emoji.strip(":"))
        request = (await self._client(ref.channel)).reactions_add(
            channel=ref.channel.channel, timestamp=ref.message_id, name=name
        )
        try:
            await call("reactions.add", request)
        except Exception as exc:
            if "already_reacted" not in str(exc):
                raise

    async def open_view(self, team_id: str, trigger_id: str, view: dict[str, Any]) -> None:
        client = (await self.teams.get(team_id)).client
        await call("views.open", client.views_open(trigger_id=trigger_id, view=view))

    # reading -------------------------------------------------------------------------

    async def fetch_message(self, ref: MessageRef) -> ChatMessage:
        channel = ref.channel.channel
        ts = ref.message_id
        if not _TS.match(ts):
            raise TargetGone(f"{ts!r} is not a Slack message ts")
        client = await self._client(ref.channel)
        history = client.conversations_history(
            channel=channel, latest=ts, oldest=ts, inclusive=True, limit=1
        )
        found = _with_ts(data(await call("conversations.history", history)), ts)
        if found is None:
            replies = client.conversations_replies(
                channel=channel, ts=ref.thread_id or ts, latest=ts, oldest=ts, inclusive=True
            )
            found = _with_ts(data(await call("conversations.replies", replies)), ts)
        if found is None:
            raise TargetGone(f"no message {ts} in {channel}")
        message = await self._chat_message(ref.channel, found)
        link = await self.fetch_permalink(message.ref)
        return dataclasses.replace(message, permalink=link)

    async def fetch_thread(self, ref: MessageRef) -> list[ChatMessage]:
        """The whole thread, root first, every page of it (up to `THREAD_LIMIT`); each
        message's ref has thread_id = the root's ts. A deleted root that still has replies
        (a `tombstone`) is left out, as deleted messages are."""
        root = ref.thread_id or ref.message_id
        messages: list[ChatMessage] = []
        cursor: str | None = None
        client = await self._client(ref.channel)
        while len(messages) < THREAD_LIMIT:
            request = client.conversations_replies(
                channel=ref.channel.channel, ts=root, limit=200, cursor=cursor
            )
            body = data(await call("conversations.replies", request))
            for raw in body.get("messages") or []:
                if raw.get("subtype") == "tombstone":
                    continue
                message = await self._chat_message(ref.channel, raw)
                thread_ref = dataclasses.replace(message.ref, thread_id=root)
                messages.append(dataclasses.replace(message, ref=thread_ref))
            cursor = (body.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                break
        return messages[:THREAD_LIMIT]

    async def fetch_permalink(self, ref: MessageRef) -> str:
        """`chat.getPermalink`, remembered so the synchronous `permalink()` can use it."""
        key = (ref.channel.channel, ref.message_id)
        if key not in self._permalinks:
            request = (await self._client(ref.channel)).chat_getPermalink(
                channel=ref.channel.channel, message_ts=ref.message_id
            )
            body = data(await call("chat.getPermalink", request))
            self._permalinks[key] = str(body.get("permalink") or self.permalink(ref))
        return self._permalinks[key]

    def permalink(self, ref: MessageRef) -> str:
        """The link Slack gave us, else the documented archive URL form."""
        known = self._permalinks.get((ref.channel.channel, ref.message_id))
        if known is not None:
            return known
        base = self._urls.get(ref.channel.space, "https://slack.com/")
        link = f"{base}archives/{ref.channel.channel}/p{ref.message_id.replace('.', '')}"
        if ref.thread_id and ref.thread_id != ref.message_id:
            link += f"?thread_ts={ref.thread_id}&cid={ref.channel.channel}"
        return link

    def resolve_channel(self, text: str, here: ChannelRef) -> ChannelRef | None:
        """`here`, a `<#C…|name>` Slack resolved in a command, or a bare channel id."""
        text = text.strip()
        if text.lower() == "here":
            return here
        mention = _CHANNEL_MENTION.match(text)
        channel = mention.group(1) if mention else text if _CHANNEL_ID.match(text) else None
        return None if channel is None else ChannelRef(PLATFORM, here.space, channel)

    def resolve_reference(self, text: str, channel: ChannelRef) -> MessageRef | None:
        """A ts, or a permalink to a message in this channel."""
        text = text.strip().strip("<>").split("|")[0]
        if _TS.match(text):
            return MessageRef(channel, text)
        link = _PERMALINK.match(text)
        if link is None or link.group(1) != channel.channel:
            return None
        ts = f"{link.group(2)}.{link.group(3)}"
        return MessageRef(channel, ts, thread_id=link.group(4))

    async def _chat_message(self, channel: ChannelRef, raw: dict[str, Any]) -> ChatMessage:
        team = await self.teams.get(channel.space)
        own = is_own(raw, team.bot_user_id, team.bot_id)
        return await chat_message(team.workspace, channel, raw, own=own)

    def remember_url(self, team: Team) -> None:
        """The workspace's own URL for permalinks built without asking Slack."""
        self._urls[team.id] = team.url


def _content(message: OutboundMessage) -> dict[str, Any]:
    """text + blocks (see `outbound_mrkdwn`), and the idempotency key as metadata."""
    payload = mrkdwn_payload(outbound_mrkdwn(message))
    if message.idempotency_key:
        payload["metadata"] = {
            "event_type": RELAY_EVENT,
            "event_payload": {"key": message.idempotency_key},
        }
    return payload


def relay_key(raw: dict[str, Any]) -> str | None:
    """The idempotency key a message carries (metadata comes with `include_all_metadata`)."""
    metadata = raw.get("metadata") or {}
    if metadata.get("event_type") != RELAY_EVENT:
        return None
    key = (metadata.get("event_payload") or {}).get("key")
    return str(key) if key is not None else None


def is_own(raw: dict[str, Any], bot_user_id: str, bot_id: str) -> bool:
    """Whether a message payload was posted by Hearth's bot (its bot user or bot id)."""
    if bot_id and bot_id in (raw.get("bot_id"), (raw.get("bot_profile") or {}).get("id")):
        return True
    return bool(bot_user_id) and raw.get("user") == bot_user_id


def attachments_of(raw: dict[str, Any]) -> tuple[Attachment, ...]:
    """A message's `files` as links (`url_private`, else the file's permalink)."""
    found: list[Attachment] = []
    for file in raw.get("files") or []:
        if not isinstance(file, dict):
            continue
        url = file.get("url_private") or file.get("permalink")
        if not url:
            continue  # a deleted file (mode "tombstone") or one hidden by plan limits
        size = file.get("size")
        found.append(
            Attachment(
                name=str(file.get("name") or file.get("title") or "file"),
                url=str(url),
                size=size if isinstance(size, int) else None,
                content_type=str(file["mimetype"]) if file.get("mimetype") else None,
            )
        )
    return tuple(found)


async def chat_message(
    workspace: Workspace, channel: ChannelRef, raw: dict[str, Any], *, own: bool = False
) -> ChatMessage:
    """A Slack message payload (API result or event) as the neutral ChatMessage.

    `markup` is the raw mrkdwn `text`; a bot's custom `username` (a relayed copy) names
    the author, and its `icons` give the picture.
    """
    ts = str(raw.get("ts") or "")
    thread_ts = raw.get("thread_ts")
    user_id = str(raw.get("user") or raw.get("bot_id") or "unknown")
    custom = raw.get("username") if raw.get("bot_id") else None
    user = await workspace.user(user_id) if raw.get("user") and not custom else None
    name = user.name if user else str(custom or raw.get("username") or user_id)
    bot_icons = (raw.get("bot_profile") or {}).get("icons") or {}
    avatar = (user.avatar_url if user else None) or avatar_of(raw.get("icons") or {})
    text = str(raw.get("text") or "")
    return ChatMessage(
        ref=MessageRef(channel, ts, thread_id=str(thread_ts) if thread_ts else None),
        author=UserRef(PLATFORM, user_id, name),
        text=to_plain(text),
        posted_at=ts_time(ts),
        markup=text,
        attachments=attachments_of(raw),
        avatar_url=avatar or (avatar_of(bot_icons) if raw.get("bot_id") else None),
        from_bot=own,
    )


def _with_ts(body: dict[str, Any], ts: str) -> dict[str, Any] | None:
    return next((m for m in body.get("messages") or [] if m.get("ts") == ts), None)
