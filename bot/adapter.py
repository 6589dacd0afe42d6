"""What `bot.app` needs of an adapter beyond the outbound port: a lifecycle."""

from __future__ import annotations

from typing import Protocol

from bot.inbound import Inbound
from bot.port import OutboundPort


class Adapter(OutboundPort, Protocol):
    async def start(self, inbound: Inbound) -> None:
        """Connect and begin delivering events to `inbound`."""
        ...

    async def wait_closed(self) -> None:
        """Return when the adapter has stopped on its own (console EOF, fatal error)."""
        ...

    async def stop(self) -> None: ...
