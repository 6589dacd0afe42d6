"""What one Hearth holds, and which command family gets which of it.

`Services` is the wiring root, built once in `bot.app` and read by the app, the CLI and
tests; no handler sees it. `command_families` is the one place a family is built with
exactly the services it names: a new family is added there and its commands to the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.assist.semantic import SemanticIndex
from bot.assist.service import Assist
from bot.commands.families import BoundCommands
from bot.commands.spec import CommandTable
from bot.handlers.assist import AssistCommands
from bot.handlers.constellation import ConstellationCommands
from bot.handlers.cross_deployment import CrossDeployment
from bot.handlers.export import ExportCommands
from bot.handlers.garden import GardenCommands, GardenLinks
from bot.handlers.help import HelpCommands
from bot.handlers.insights import InsightCommands
from bot.handlers.privacy import PrivacyCommands
from bot.handlers.relay import RelayCommands
from bot.handlers.rituals import JointCommands, RitualDefinitions, RitualMembers
from bot.handlers.search import SearchCommands
from bot.limits import Limits
from bot.relay.service import Relays
from bot.suggestions import Suggestions
from knowledge.clock import Clock
from knowledge.directory import Directory
from knowledge.insights import InsightStore
from knowledge.pending import PendingStore
from knowledge.privacy import Privacy
from knowledge.search import SearchBackend
from knowledge.sharing import SharedKnowledge
from scheduling.service import Rituals


@dataclass(frozen=True)
class Services:
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

    def suggestions(self) -> Suggestions:
        """What Discord's autocomplete offers."""
        return Suggestions(self.directory, self.insights, self.rituals.store)


def command_families(
    s: Services, garden: GardenLinks | None, cross: CrossDeployment | None = None
) -> BoundCommands:
    """The table's handlers, each family holding only what its commands use."""
    joint = JointCommands(s.rituals, s.relays, s.directory, s.pending)
    return BoundCommands(
        s.table,
        (
            joint,
            InsightCommands(s.insights, s.sharing, s.assist, s.clock, s.semantic),
            SearchCommands(s.search, s.sharing, s.insights, s.semantic),
            AssistCommands(s.assist, s.insights, s.sharing, s.pending, s.limits),
            RitualDefinitions(s.rituals, s.pending, s.directory, joint),
            RitualMembers(s.rituals),
            ExportCommands(s.insights, s.export_dir, s.clock),
            PrivacyCommands(s.privacy, s.pending),
            GardenCommands(garden, s.clock),
            ConstellationCommands(s.directory, s.relays, s.sharing, s.limits, joint, cross),
            RelayCommands(s.relays),
            HelpCommands(s.table),
        ),
    )
