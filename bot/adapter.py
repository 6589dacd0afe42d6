"""What `bot.app` needs of an adapter beyond the outbound port: a lifecycle."""

from __future__ import annotations

from typing import Protocol

from bot.inbound import Inbound
from bot.port import OutboundPort


class Adapter(OutboundPort, Protocol):
    async def connect(self) -> None:
        """Become able to post (log in, open files); deliver no events yet."""
        ...

    async def start(self, inbound: Inbound) -> None:
        """Begin delivering events to `inbound` (after services caught up on posting)."""
        ...

    async def wait_closed(self) -> None:
        """Return when the adapter has stopped on its own (console EOF, fatal error)."""
        ...

    async def stop(self) -> None: ...

    async def readiness(self) -> str | None:
        """None when connected and receiving; else one sentence saying what is wrong
        (served by /readyz)."""
        ...
