"""The "Save as insight" modal: built from a message shortcut, read back on submit.

Why the message's coordinates travel in `private_metadata`: the view_submission payload
does not say which message the shortcut was on, and keeping them in the view (not in
process memory) lets any process, even after a restart, finish the capture.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from bot.hashtags import hashtags

CALLBACK_ID = "hearth_save_insight"
TAGS_BLOCK = "tags"
TAGS_ACTION = "tags_input"
_TAG = re.compile(r"^[\w.+/-]{1,64}$")


@dataclass(frozen=True)
class Target:
    team: str
    channel: str
    ts: str
    thread_ts: str | None


def capture_view(target: Target, text: str, preview_chars: int = 280) -> dict[str, Any]:
    """A modal showing the message, with its #hashtags prefilled as editable tags."""
    tags = " ".join(f"#{t}" for t in dict.fromkeys(hashtags(text)))
    preview = text if len(text) <= preview_chars else text[: preview_chars - 1] + "…"
    metadata = {"team": target.team, "channel": target.channel, "ts": target.ts}
    if target.thread_ts:
        metadata["thread_ts"] = target.thread_ts
    return {
        "type": "modal",
        "callback_id": CALLBACK_ID,
        "title": {"type": "plain_text", "text": "Save as insight"},
        "submit": {"type": "plain_text", "text": "Save"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "private_metadata": json.dumps(metadata),
        "blocks": [
            {"type": "section", "text": {"type": "plain_text", "text": preview or " "}},
            {
                "type": "input",
                "block_id": TAGS_BLOCK,
                "optional": True,
                "label": {"type": "plain_text", "text": "Tags"},
                "hint": {
                    "type": "plain_text",
                    "text": "Separate with spaces, e.g. #review #onboarding",
                },
                "element": {
                    "type": "plain_text_input",
                    "action_id": TAGS_ACTION,
                    "initial_value": tags,
                    "placeholder": {"type": "plain_text", "text": "#tag #another"},
                },
            },
        ],
    }


def read_target(view: dict[str, Any]) -> Target:
    meta = json.loads(view.get("private_metadata") or "{}")
    return Target(
        team=str(meta.get("team", "")),
        channel=str(meta.get("channel", "")),
        ts=str(meta.get("ts", "")),
        thread_ts=meta.get("thread_ts"),
    )


def read_tags(view: dict[str, Any]) -> tuple[list[str], str | None]:
    """The tags typed in the modal, and an error to show under the field (None when fine)."""
    values = view.get("state", {}).get("values", {})
    raw = str(values.get(TAGS_BLOCK, {}).get(TAGS_ACTION, {}).get("value") or "")
    tags = [word.lstrip("#") for word in re.split(r"[\s,]+", raw) if word.lstrip("#")]
    bad = [t for t in tags if not _TAG.match(t)]
    if bad:
        return [], f"Tags are single words of letters, digits, . + / - or _ (not {bad[0]!r})."
    return list(dict.fromkeys(tags)), None
