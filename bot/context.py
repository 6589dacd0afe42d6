"""What one command invocation carries: who asked, where, and the way to answer.

Services are not here: each command family (bot/handlers/) is built in `bot.app` with
exactly the services it names, and its methods are the handlers.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.events import CommandInvoked
from bot.port import OutboundPort
from knowledge.views import CommunityInfo, MemberInfo


@dataclass(frozen=True)
class CommandContext:
    community: CommunityInfo
    member: MemberInfo
    event: CommandInvoked
    port: OutboundPort
    prefix: str
