"""Wiring in one place: database, services and adapters, started and stopped in order."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib.util import find_spec
from typing import TYPE_CHECKING

import structlog
from sqlalchemy.exc import DBAPIError, OperationalError

from bot.adapter import Adapter
from bot.assist import LanguageModel
from bot.assist.metered import MeteredModel
from bot.assist.semantic import Embedder, EndpointEmbedder, SemanticIndex
from bot.assist.service import Assist
from bot.channel_aliases import bind_aliases
from bot.commands.table import build_command_table
from bot.config import CommunityConfig, Config
from bot.inbound import Inbound
from bot.limits import Limits
from bot.ops.metrics import Metrics
from bot.relay.service import Relays
from bot.relay.worker import OutboxWorker
from bot.services import Services, command_families
from bot.supervise import starting, supervise
from knowledge.clock import Clock, SystemClock
from knowledge.db import Database, DatabaseUnavailable, open_database
from knowledge.directory import Directory
from knowledge.embeddings import EmbeddingStore
from knowledge.errors import UserError
from knowledge.inbound import InboundLog
from knowledge.insights import InsightStore
from knowledge.limits import RateLimits
from knowledge.links import LinkStore
from knowledge.outbox import Outbox
from knowledge.pending import PendingStore
from knowledge.privacy import Privacy
from knowledge.relays import RelayStore
from knowledge.rituals import RitualStore
from knowledge.schema_version import is_current
from knowledge.search import SearchBackend, open_search
from knowledge.sharing import SharedKnowledge
from knowledge.views import InsightView
from knowledge.vocabulary import Role, Visibility
from scheduling.service import Rituals

if TYPE_CHECKING:  # aiohttp is imported only when [web] listen is set (start-up time)
    from bot.federation.service import Federation
    from bot.ops.server import OpsServer

log = structlog.get_logger(__name__)


async def open_store(config: Config, clock: Clock | None = None) -> Database:
    """The database, migrated when allowed; DatabaseUnavailable says what is wrong."""
    database = open_database(config.hearth.database_url, clock=clock)
    try:
        if await is_current(database):  # the usual start: no Alembic import needed
            return database
        from knowledge import migrate

        current = await migrate.current_revision(database)
        head = migrate.head_revision()
        if current != head:
            if not config.hearth.auto_migrate:
                raise DatabaseUnavailable(
                    f"the database is at schema {current or 'empty'}, this Hearth needs {head}: "
                    "run `hearth db upgrade` (auto_migrate is off)"
                )
            log.info("database.upgrading", current=current, head=head)
            await migrate.upgrade(database)
    except (OperationalError, DBAPIError, OSError) as exc:
        await database.dispose()
        raise DatabaseUnavailable(f"cannot use the database: {exc}") from None
    except BaseException:
        await database.dispose()
        raise
    return database


def _garden_url(config: Config, ops: OpsServer) -> Callable[[], str]:
    """The garden's address for links: `public_url`, else where the server listens; ""
    when that is every interface (0.0.0.0, ::), which no link can name."""

    def url() -> str:
        if config.web.public_url:
            return config.web.public_url
        if ops.host in ("0.0.0.0", "::", ""):
            return ""
        host = ops.host if ":" not in ops.host else f"[{ops.host}]"
        return f"http://{host}:{ops.port}"

    return url


async def apply_communities(
    directory: Directory, sharing: SharedKnowledge, communities: Sequence[CommunityConfig]
) -> None:
    """Make the store agree with the config: communities, default visibility, channel
    bindings, roles."""
    for entry in communities:
        community = await directory.ensure_community(entry.slug, entry.name, entry.timezone)
        if "default_visibility" in entry.model_fields_set:  # else a steward's choice stands
            await sharing.set_default(community.id, Visibility(entry.default_visibility))
        await directory.bind_channels(
            community.id, [(c.platform, c.space, c.channel) for c in entry.channels]
        )
        grants: dict[tuple[str, str], Role] = {}
        for role, refs in ((Role.CURATOR, entry.curators), (Role.STEWARD, entry.stewards)):
            for ref in refs:
                platform, _, user_id = ref.partition(":")
                grants[(platform, user_id)] = role
        await directory.apply_config_roles(community.id, grants)


def _federation(
    config: Config,
    database: Database,
    search: SearchBackend,
    services: Services,
    ops: OpsServer,
    metrics: Metrics,
) -> Federation:
    """ActivityPub on the [web] server; its library is the `federation` extra."""
    if find_spec("apsig") is None or find_spec("http_message_signatures") is None:
        raise UserError(
            "[federation] enabled needs its HTTP Signatures library: "
            "pip install 'hearth[federation]'"
        )
    from bot.federation.service import Federation
    from bot.garden import descriptions_of
    from knowledge.garden import GardenStore

    federation = Federation(
        config.federation,
        config.relay,
        database,
        GardenStore(database, search),
        services.directory,
        services.clock,
        _garden_url(config, ops),
        descriptions_of(config.communities),
        metrics,
        services.relays,
    )
    federation.mount(ops)
    return federation


@dataclass(frozen=True)
class Hearth:
    config: Config
    database: Database
    services: Services
    inbound: Inbound
    relay_worker: OutboxWorker
    metrics: Metrics
    ops: OpsServer | None  # the operations server, when [web] listen is set
    federation: Federation | None = None  # ActivityPub, when [federation] enabled

    def public_url(self) -> str:
        """Where people reach the operations server ("" when off or on every interface)."""
        return _garden_url(self.config, self.ops)() if self.ops is not None else ""

    @classmethod
    async def open(
        cls,
        config: Config,
        clock: Clock | None = None,
        *,
        timer: bool | None = None,
        model: LanguageModel | None = None,
        embedder: Embedder | None = None,
        relay_in_background: bool = True,
    ) -> Hearth:
        """Open the store and build the services.

        With a given clock, tests drive time and APScheduler stays off unless `timer`.
        Semantic search uses `embedder` (the CLI passes the packaged or configured local
        model), else the model's embeddings API when `assist.embedding_model` is set; with
        neither, or `assist.semantic_search = false`, /search is full text.
        """
        use_timer = clock is None if timer is None else timer
        clock = clock or SystemClock()
        database = await open_store(config, clock)
        directory = Directory(database)
        try:
            await apply_communities(directory, SharedKnowledge(database), config.communities)
        except BaseException:
            await database.dispose()
            raise
        insights = InsightStore(database)
        metrics = Metrics()
        if model is not None:
            model = MeteredModel(model, metrics)
        search = open_search(database)
        opted_in = frozenset(c.slug for c in config.communities if c.assist)
        if not config.assist.semantic_search:
            embedder = None
        elif embedder is None and model is not None and config.assist.embedding_model:
            if find_spec("numpy") is None:  # vectors are ranked with numpy, an extra
                log.warning(
                    "semantic_search.off", reason="pip install 'hearth[embeddings]' for numpy"
                )
            else:
                embedder = EndpointEmbedder(model, config.assist.embedding_model)
        semantic = None
        if embedder is not None:
            semantic = SemanticIndex(
                embedder,
                EmbeddingStore(database),
                insights,
                opted_in,
                min_similarity=config.assist.semantic_min_similarity,
            )
        assist = Assist(
            model,
            opted_in,
            insights,
            search,
            max_input_chars=config.assist.max_input_tokens * 4,
        )

        async def narrate(community_id: int, title: str, texts: list[str]) -> str | None:
            community = await directory.community_by_id(community_id)
            return None if community is None else await assist.narrate(community, title, texts)

        async def narrate_joint(
            community_ids: Sequence[int], title: str, texts: list[str]
        ) -> str | None:
            """Only when every community taking part opted in: their words go together."""
            communities = [await directory.community_by_id(c) for c in community_ids]
            known = [c for c in communities if c is not None]
            if not known or len(known) < len(communities):
                return None
            if not all(assist.uses_model(c) for c in known):
                return None
            return await assist.narrate(known[0], title, texts)

        sharing = SharedKnowledge(database)

        async def constellation_news(
            community_id: int, since: datetime
        ) -> list[tuple[str, InsightView]]:
            return await sharing.shared_since(await sharing.scope(community_id), since)

        rituals = Rituals(
            RitualStore(database),
            insights,
            directory,
            clock,
            timedelta(minutes=config.rituals.catch_up_grace_minutes),
            metrics,
            use_timer=use_timer,
            reconcile=timedelta(seconds=config.rituals.reconcile_seconds),
            narrator=narrate,
            constellation_news=constellation_news,
            joint_narrator=narrate_joint,
        )
        table = build_command_table()
        links = LinkStore(database)
        outbox = Outbox(database)
        relays = Relays(
            links,
            RelayStore(database),
            outbox,
            directory,
            clock,
            [c.name for c in table.commands],
        )
        worker = OutboxWorker(
            outbox, relays, links, clock, config.relay, metrics, relay_in_background
        )
        services = Services(
            directory=directory,
            insights=insights,
            search=search,
            privacy=Privacy(database),
            export_dir=config.hearth.export_dir,
            table=table,
            rituals=rituals,
            assist=assist,
            relays=relays,
            sharing=sharing,
            clock=clock,
            pending=PendingStore(database),
            limits=Limits(RateLimits(database), config.limits),
            semantic=semantic,
        )
        address = config.web.address()
        ops = None
        if address is not None:  # aiohttp, Jinja2 and the garden only when served
            from bot.ops.server import OpsServer

            ops = OpsServer(*address, metrics)
        garden_links = None
        if ops is not None and config.web.garden:
            from bot.garden import Garden, descriptions_of
            from bot.garden.members import MemberGarden
            from bot.handlers.garden import GardenLinks
            from knowledge.garden import GardenStore
            from knowledge.garden_auth import GardenAuth
            from knowledge.ritual_history import RitualHistory

            auth = GardenAuth(database)
            garden = Garden(
                GardenStore(database, search),
                clock,
                descriptions_of(config.communities),
                config.web.public_url,
                {c.slug: c.timezone for c in config.communities},
                members=MemberGarden(
                    auth,
                    insights,
                    sharing,
                    search,
                    RitualHistory(database),
                    rituals.store,
                    links,
                ),
                semantic=semantic,
            )
            garden.mount(ops)
            garden_links = GardenLinks(auth, _garden_url(config, ops))
        federation = None
        if ops is not None and config.federation.enabled:
            federation = _federation(config, database, search, services, ops, metrics)
            federation.background = relay_in_background
        inbound = Inbound(
            command_families(services, garden_links, federation.links if federation else None),
            directory=directory,
            insights=insights,
            assist=assist,
            rituals=rituals,
            relays=relays,
            inbound_log=InboundLog(database),
            metrics=metrics,
        )
        return cls(config, database, services, inbound, worker, metrics, ops, federation)

    async def run(self, adapters: Sequence[Adapter], stop: asyncio.Event | None = None) -> None:
        """Serve until every adapter has ended by itself, `stop` is set or we are cancelled;
        then stop them all. Raises AdapterFailed if one of them failed.

        Order matters: adapters connect, rituals catch up on what fell due while Hearth
        was down, and only then do adapters deliver new events. Relays catch up in the
        background, beside those live events (`Relays.start_catch_up`).
        """
        started: list[Adapter] = []
        rituals, relays = self.services.rituals, self.services.relays
        if self.ops is not None:  # first, so /healthz answers while adapters connect
            from bot.ops.watch import watch

            clock = self.services.clock
            watch(self.ops, self.metrics, self.database, relays.outbox, clock, adapters)
            await self.ops.start()
        if self.federation is not None:
            self.federation.start()
        try:
            for adapter in adapters:
                with starting(adapter):
                    await adapter.connect()
                started.append(adapter)
                await bind_aliases(self.services.directory, self.config.communities, adapter)
                rituals.attach(adapter)
                relays.attach(adapter)
            await rituals.start()  # catch up before any new event arrives
            self.relay_worker.start()
            for adapter in adapters:
                relays.start_catch_up(adapter, self.config.relay)  # in the background
                with starting(adapter):
                    await adapter.start(self.inbound)
                log.info("adapter.started", platform=adapter.platform)
            await supervise(started, stop)
        finally:
            await relays.stop_catch_up()
            await self.relay_worker.stop()
            await rituals.stop()
            for adapter in reversed(started):
                await adapter.stop()
                log.info("adapter.stopped", platform=adapter.platform)
            if self.federation is not None:
                await self.federation.stop()
            if self.ops is not None:
                await self.ops.stop()

    async def close(self) -> None:
        if self.services.semantic is not None:
            await self.services.semantic.close()  # saves still being embedded finish
        await self.services.assist.close()
        await self.database.dispose()
