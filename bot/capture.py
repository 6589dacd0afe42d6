"""Capture: one path from any trigger (command, reply, reference, 💡) to one insight."""

from __future__ import annotations

from collections.abc import Sequence

from bot import formatting
from bot.assist.service import Assist
from bot.events import ChatMessage, MessageRef
from bot.port import OutboundPort, TargetGone
from knowledge.errors import InvalidInput, NotFound
from knowledge.insights import InsightStore
from knowledge.views import CaptureResult, CommunityInfo, MemberInfo, SourceMessage

BULBS = frozenset({"💡", "bulb", ":bulb:"})
LABELS = frozenset({"🏷️", "🏷", "label", ":label:"})


async def announce(
    result: CaptureResult, assist: Assist, community: CommunityInfo, prefix: str
) -> str:
    """What to say after a capture; an untagged new insight gets tag suggestions."""
    if not result.created:
        return formatting.already_captured(result.insight)
    text = formatting.captured(result.insight)
    if not result.insight.tags:
        suggested = await assist.suggest_tags(community, result.insight.body)
        if suggested:
            tags = " ".join(f"#{t}" for t in suggested)
            retag = f"{prefix}insight retag {result.insight.id} {tags}"
            text += (
                f"\nSuggested tags: {tags} — react 🏷️ on the captured message to add them, "
                f"or {retag}"
            )
    return text


def source_of(message: ChatMessage) -> SourceMessage:
    return SourceMessage(
        platform=message.ref.channel.platform,
        space=message.ref.channel.space,
        channel=message.ref.channel.channel,
        message_id=message.ref.message_id,
        thread_id=message.ref.thread_id,
        text=message.text,
        author_user_id=message.author.user_id,
        author_name=message.author.display_name,
        permalink=message.permalink,
        posted_at=message.posted_at,
    )


class Capture:
    def __init__(self, insights: InsightStore) -> None:
        self._insights = insights

    async def message(
        self,
        community: CommunityInfo,
        curator: MemberInfo,
        port: OutboundPort,
        target: MessageRef,
        *,
        title: str | None = None,
        tags: Sequence[str] = (),
    ) -> CaptureResult:
        """Capture someone's message; an already captured one is found without a fetch."""
        channel = target.channel
        existing = await self._insights.find_by_source(
            community.id, channel.platform, channel.space, channel.channel, target.message_id
        )
        if existing is not None:
            await self._remember_round(existing.id, target)
            return CaptureResult(existing, created=False)
        try:
            fetched = await port.fetch_message(target)
        except TargetGone:
            raise NotFound(
                f"I can't find message {target.message_id} in this channel any more."
            ) from None
        if fetched.from_bot:  # Hearth's own post or relayed copy: nobody here wrote it
            raise InvalidInput(
                "That is one of my own messages, so it has no author to credit: capture the "
                "original message instead, or write the insight in your own words."
            )
        result = await self._insights.capture(
            community.id, source_of(fetched), curator=curator, title=title, tags=tags
        )
        await self._remember_round(result.insight.id, target)
        return result

    async def _remember_round(self, insight_id: int, target: MessageRef) -> None:
        """A response in a joint ritual's round: the insight remembers that round (again
        after a crash between the capture and this: it is idempotent)."""
        channel = target.channel
        await self._insights.rounds.remember_round(
            insight_id, channel.platform, channel.space, channel.channel, target.message_id
        )

    async def own_words(
        self,
        community: CommunityInfo,
        curator: MemberInfo,
        message: ChatMessage,
        body: str,
        tags: Sequence[str],
    ) -> CaptureResult:
        """`/insight <text>`: the command's own message is the source, its sender the author."""
        return await self._insights.capture(
            community.id, source_of(message), curator=curator, body=body, tags=tags
        )
