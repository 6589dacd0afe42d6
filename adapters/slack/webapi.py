"""Slack Web API calls and what their failures mean to Hearth.

Why one guard around every call: the core decides about retries from the port's typed
failures (RateLimited, TargetGone, Forbidden, Transient), never from Slack error codes.
A 429 is first retried by slack_sdk's `AsyncRateLimitErrorRetryHandler` (it sleeps
`Retry-After`); only when those retries are used up does it surface as RateLimited.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

import aiohttp
import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.port import DeliveryError, Forbidden, RateLimited, TargetGone, Transient

log = structlog.get_logger(__name__)

T = TypeVar("T")

GONE = frozenset(
    {
        "channel_not_found",
        "message_not_found",
        "thread_not_found",
        "is_archived",
        "no_such_subteam",
        "user_not_found",
        "expired_trigger_id",
    }
)
FORBIDDEN = frozenset(
    {
        "not_in_channel",
        "missing_scope",
        "restricted_action",
        "cant_update_message",
        "cant_delete_message",
        "not_authed",
        "invalid_auth",
        "account_inactive",
        "token_revoked",
        "no_permission",
        "ekm_access_denied",
        "team_access_not_granted",
    }
)
PLAIN = {
    "not_in_channel": "I am not a member of that channel: invite me with /invite @Hearth.",
    "channel_not_found": "Slack cannot find that channel (or I may not see it).",
    "message_not_found": "Slack cannot find that message any more.",
    "missing_scope": "This Slack app lacks a permission it needs; reinstall it from the manifest.",
    "is_archived": "That channel is archived.",
    "ratelimited": "Slack asked me to slow down; try again in a minute.",
}


def make_client(token: str, base_url: str, rate_limit_retries: int) -> AsyncWebClient:
    """A Web API client that honours `Retry-After` on 429 up to `rate_limit_retries` times."""
    client = AsyncWebClient(
        token=token or None, base_url=base_url if base_url.endswith("/") else base_url + "/"
    )
    if rate_limit_retries:
        client.retry_handlers.append(
            AsyncRateLimitErrorRetryHandler(max_retry_count=rate_limit_retries)
        )
    return client


def error_code(exc: BaseException) -> str:
    """The Slack error code (`not_in_channel`…), or a short name for transport failures."""
    if isinstance(exc, SlackApiError):
        return str(data(exc.response).get("error") or f"http_{exc.response.status_code}")
    if isinstance(exc, DeliveryError) and isinstance(exc.__cause__, SlackApiError):
        return error_code(exc.__cause__)
    return type(exc).__name__


def plain_message(exc: BaseException) -> str:
    """What to tell a person about a failed call, in words rather than a stack trace."""
    code = error_code(exc)
    if isinstance(exc, RateLimited):
        return PLAIN["ratelimited"]
    return PLAIN.get(code, f"Slack refused that ({code}).")


def _typed(method: str, exc: SlackApiError) -> DeliveryError:
    response = exc.response
    code = str(data(response).get("error") or "")
    if response.status_code == 429 or code == "ratelimited":
        return RateLimited(_retry_after(response.headers))
    if code in GONE:
        return TargetGone(f"{method}: {code}")
    if code in FORBIDDEN:
        return Forbidden(f"{method}: {code}")
    return Transient(f"{method}: {code or response.status_code}")


def _retry_after(headers: Any) -> float:
    """Retry-After in seconds; headers come as a dict of strings or of lists by client."""
    for key, value in dict(headers or {}).items():
        if str(key).lower() == "retry-after":
            raw = value[0] if isinstance(value, list) and value else value
            try:
                return max(0.0, float(raw))
            except (TypeError, ValueError):
                break
    return 1.0


async def call(method: str, request: Awaitable[AsyncSlackResponse]) -> AsyncSlackResponse:
    """Await one Web API call; failures come out typed and logged with Slack's error code."""
    try:
        return await request
    except SlackApiError as exc:
        typed = _typed(method, exc)
        log.warning(
            "slack.api_error",
            method=method,
            error=data(exc.response).get("error"),
            status=exc.response.status_code,
            failure=type(typed).__name__,
        )
        raise typed from exc
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        log.warning("slack.api_unreachable", method=method, error=repr(exc))
        raise Transient(f"{method}: {exc!r}") from exc


def data(response: AsyncSlackResponse) -> dict[str, Any]:
    """The response body as a dict (slack_sdk types it loosely)."""
    body = response.data
    return body if isinstance(body, dict) else {}
