"""What a command handler gets: who asked, where, and the services it may use."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.assist.semantic import SemanticIndex
from bot.assist.service import Assist
from bot.commands.spec import CommandTable
from bot.events import CommandInvoked
from bot.limits import Limits
from bot.port import OutboundPort
from bot.relay.service import Relays
from knowledge.clock import Clock
from knowledge.directory import Directory
from knowledge.garden_auth import GardenAuth
from knowledge.insights import InsightStore
from knowledge.pending import PendingStore
from knowledge.privacy import Privacy
from knowledge.search import SearchBackend
from knowledge.sharing import SharedKnowledge
from knowledge.views import CommunityInfo, MemberInfo
from scheduling.service import Rituals


@dataclass(frozen=True)
class Services:
    """Everything handlers share, built once in `bot.app`."""

    directory: Directory
    insights: InsightStore
    search: SearchBackend
    privacy: Privacy
    export_dir: Path
    table: CommandTable
    rituals: Rituals
    assist: Assist
    relays: Relays
    sharing: SharedKnowledge
    clock: Clock
    pending: PendingStore  # previews waiting for a confirm, shared by all instances
    limits: Limits
    semantic: SemanticIndex | None = None  # None: /search is full text only
    garden: GardenLinks | None = None  # None: the web garden is off


@dataclass(frozen=True)
class GardenLinks:
    """What /garden login needs: the sign-in store and the garden's address."""

    auth: GardenAuth
    url: Callable[[], str]  # without a trailing slash; known once the server listens


@dataclass(frozen=True)
class CommandContext:
    services: Services
    community: CommunityInfo
    member: MemberInfo
    event: CommandInvoked
    port: OutboundPort
    prefix: str
