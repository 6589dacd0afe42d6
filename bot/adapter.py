"""What `bot.app` needs of an adapter beyond the outbound port: a lifecycle; and the two
primitives of the layers below an adapter may use, named here so adapters import the
core only: the clock ("now" comes from one place) and UserError (a failure said to a
person in one sentence)."""

from __future__ import annotations

from typing import Protocol

from bot.inbound import Inbound
from bot.port import OutboundPort
from knowledge.clock import Clock as Clock
from knowledge.clock import SystemClock as SystemClock
from knowledge.errors import UserError as UserError


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
