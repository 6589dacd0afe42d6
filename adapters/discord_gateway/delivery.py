"""discord.py's failures as the port's typed ones, so callers decide without discord."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import aiohttp
import discord

from bot.port import DeliveryError, Forbidden, RateLimited, TargetGone, Transient


@contextlib.asynccontextmanager
async def delivery() -> AsyncIterator[None]:
    """Translate what discord.py raises inside the block."""
    try:
        yield
    except discord.RateLimited as exc:
        raise RateLimited(exc.retry_after) from exc
    except discord.NotFound as exc:
        raise TargetGone(str(exc)) from exc
    except discord.Forbidden as exc:
        raise Forbidden(str(exc)) from exc
    except discord.DiscordServerError as exc:
        raise Transient(str(exc)) from exc
    except discord.HTTPException as exc:
        if exc.status == 429:
            raise RateLimited(_retry_after(exc)) from exc
        raise DeliveryError(str(exc)) from exc
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise Transient(str(exc)) from exc


def _retry_after(exc: discord.HTTPException) -> float:
    """A 429 that discord.py gave up retrying (its webhook client does so after five)."""
    header = exc.response.headers.get("Retry-After") if exc.response is not None else None
    try:
        return float(header) if header else 1.0
    except ValueError:
        return 1.0


def unknown_webhook(exc: DeliveryError) -> bool:
    cause = exc.__cause__
    return isinstance(cause, discord.HTTPException) and cause.code == 10015


def bad_request(exc: DeliveryError) -> bool:
    cause = exc.__cause__
    return isinstance(cause, discord.HTTPException) and cause.status == 400
