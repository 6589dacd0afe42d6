"""What store-level tests capture: a console message, as an adapter would hand it over."""

from __future__ import annotations

from knowledge.views import SourceMessage


def console_message(message_id: str, text: str, author: str = "alice") -> SourceMessage:
    """Message `message_id` of #general on the console, by `author` (named in title case)."""
    return SourceMessage(
        platform="console",
        space="local",
        channel="general",
        message_id=message_id,
        text=text,
        author_user_id=author,
        author_name=author.title(),
        permalink=f"console://local/general/{message_id}",
    )
