"""nio's error answers as Hearth's typed delivery failures (one mapping for the adapter)."""

from __future__ import annotations

from typing import Any

from nio import ErrorResponse  # type: ignore[import-untyped]

from bot.port import Forbidden, RateLimited, TargetGone, Transient


def check(response: Any) -> Any:
    """nio returns error objects instead of raising; turn them into typed failures."""
    if not isinstance(response, ErrorResponse):
        return response
    code, message = str(response.status_code or ""), str(response.message or "")
    if code == "M_LIMIT_EXCEEDED":
        raise RateLimited((getattr(response, "retry_after_ms", 0) or 1000) / 1000)
    if code == "M_FORBIDDEN":
        raise Forbidden(message or code)
    if code == "M_NOT_FOUND" or "Unknown room" in message:
        raise TargetGone(message or code)
    raise Transient(f"{code}: {message}".strip(": "))
