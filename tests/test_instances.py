"""Several Hearth instances on one database agree: a confirm may reach any of them, rate
limits count across them, and every instance schedules the rituals any of them saved."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from adapters.discord_gateway.config import DiscordConfig
from bot.app import Hearth, open_store
from knowledge.clock import ManualClock
from knowledge.db import Database, open_database
from knowledge.directory import Directory
from knowledge.limits import Limit, RateLimits
from knowledge.migrate import current_revision, head_revision, schema_drift
from knowledge.pending import CLAIM, PendingStore
from knowledge.rituals import NewRitual, RitualStore
from knowledge.vocabulary import RitualKind
from tests.conftest import ADMIN_URL, _admin
from tests.harness.console_harness import make_config, run_script

NOON = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
THREAD = [
    "How do you keep code reviews from dragging on for days?",  # 1
    ":as bob",
    ":reply 1 We cap review size: small pull requests get reviewed within hours.",  # 2
]


async def _member(database: Database) -> tuple[int, int]:
    directory = Directory(database)
    community = await directory.ensure_community("guild", "The Guild", "UTC")
    member = await directory.resolve_member(community.id, "console", "cora", "Cora")
    return community.id, member.id


# -- the stores, with two engines standing in for two instances ----------------------------


async def test_a_pending_confirmation_is_taken_once_by_any_instance(database_url: str) -> None:
    clock = ManualClock(NOON)
    a, b = open_database(database_url, clock=clock), open_database(database_url, clock=clock)
    try:
        community_id, member_id = await _member(a)
        await PendingStore(a).put("ritual", member_id, community_id, {"name": "old"}, timedelta(1))
        await PendingStore(a).put("ritual", member_id, community_id, {"name": "new"}, timedelta(1))
        assert await PendingStore(b).take("summary", member_id, community_id) is None
        assert await PendingStore(b).take("ritual", member_id, community_id + 1) is None
        taken = await asyncio.gather(
            PendingStore(a).take("ritual", member_id, community_id),
            PendingStore(b).take("ritual", member_id, community_id),
        )
        assert sorted(taken, key=str) == [None, {"name": "new"}]  # the later preview, once
        await PendingStore(b).done("ritual", member_id)
        assert await PendingStore(a).take("ritual", member_id, community_id) is None
    finally:
        await a.dispose()
        await b.dispose()


async def test_a_confirm_whose_instance_died_half_way_can_be_sent_again(
    database_url: str,
) -> None:
    clock = ManualClock(NOON)
    a, b = open_database(database_url, clock=clock), open_database(database_url, clock=clock)
    try:
        community_id, member_id = await _member(a)
        await PendingStore(a).put("summary", member_id, community_id, {"t": 1}, timedelta(1))
        assert await PendingStore(a).take("summary", member_id, community_id) == {"t": 1}
        # a dies before `done`: while its claim lasts, nobody else acts on the preview
        assert await PendingStore(b).take("summary", member_id, community_id) is None
        clock.advance(CLAIM)
        assert await PendingStore(b).take("summary", member_id, community_id) == {"t": 1}
    finally:
        await a.dispose()
        await b.dispose()


async def test_a_pending_confirmation_expires_on_the_clock(database_url: str) -> None:
    clock = ManualClock(NOON)
    database = open_database(database_url, clock=clock)
    try:
        community_id, member_id = await _member(database)
        pending = PendingStore(database)
        await pending.put("forget-me", member_id, community_id, {}, timedelta(minutes=10))
        clock.advance(timedelta(minutes=9, seconds=59))
        assert await pending.take("forget-me", member_id, community_id) == {}
        await pending.put("forget-me", member_id, community_id, {}, timedelta(minutes=10))
        clock.advance(timedelta(minutes=10))
        assert await pending.take("forget-me", member_id, community_id) is None
    finally:
        await database.dispose()


async def test_rate_limits_count_across_instances_and_reset_with_the_window(
    database_url: str,
) -> None:
    clock = ManualClock(NOON + timedelta(minutes=20))
    a, b = open_database(database_url, clock=clock), open_database(database_url, clock=clock)
    limit = Limit("model", 5, timedelta(hours=1))
    try:
        _, member_id = await _member(a)
        _, other_id = await _member_named(a, "dave")
        spent = await asyncio.gather(*(RateLimits(db).spend(member_id, limit) for db in (a, b) * 4))
        assert spent.count(None) == 5, "instances racing let more than the limit through"
        assert set(spent) - {None} == {timedelta(minutes=40)}  # until the hour is over
        assert await RateLimits(b).spend(other_id, limit) is None  # per member
        assert await RateLimits(b).spend(member_id, Limit("invite", 1, timedelta(1))) is None
        clock.advance(timedelta(minutes=40))
        assert await RateLimits(a).spend(member_id, limit) is None  # a new window
        unlimited = Limit("model", 0, timedelta(hours=1))
        assert all([await RateLimits(a).spend(member_id, unlimited) is None for _ in range(9)])
    finally:
        await a.dispose()
        await b.dispose()


async def _member_named(database: Database, name: str) -> tuple[int, int]:
    directory = Directory(database)
    community = await directory.ensure_community("guild", "The Guild", "UTC")
    member = await directory.resolve_member(community.id, "console", name, name.title())
    return community.id, member.id


# -- through the console: each script is a separate Hearth, like a second instance ---------


async def test_previews_are_confirmed_through_another_instance(
    database_url: str, tmp_path: Path
) -> None:
    config = make_config(database_url, tmp_path)
    await run_script(
        config,
        [
            *THREAD,
            ":as cora",
            "/ritual add reflection #general weekly on monday at 9:00 name:weekly",
            ":as dave",
            ":reply 1 /summarize",
            "/forget-me",
        ],
    )
    output = await run_script(  # a fresh instance: nothing of the first is in its memory
        config,
        [
            ":as cora",
            "/ritual confirm",
            "/ritual confirm",
            ":as dave",
            "/summarize accept #review",
            "/forget-me confirm",
        ],
    )
    assert "✅ Ritual weekly saved" in output
    assert output.count("Nothing to confirm") == 1  # taken once
    assert "💡 Captured insight #1" in output
    assert "Done. Deleted" in output


async def test_confirmations_expire_on_the_community_clock(
    database_url: str, tmp_path: Path
) -> None:
    clock = ManualClock(NOON)

    async def later(hearth: Hearth) -> None:
        clock.advance(timedelta(minutes=11))

    output = await run_script(
        make_config(database_url, tmp_path),
        [
            ":as cora",
            "/ritual add reflection #general weekly on monday at 9:00",
            later,
            "/ritual confirm",
        ],
        clock,
    )
    assert "Nothing to confirm" in output
    assert "saved" not in output


async def test_model_commands_and_invitations_stop_at_the_limit_with_a_clear_reply(
    database_url: str, tmp_path: Path
) -> None:
    clock = ManualClock(NOON + timedelta(minutes=45))
    limits = "[limits]\nmodel_commands_per_hour = 2\ninvitations_per_day = 1\n"
    config = make_config(database_url, tmp_path, extra=limits)
    first = await run_script(
        config, [*THREAD, ":as alice", "/ask what about reviews?", "/ask and pairing?"], clock
    )
    assert "this hour" not in first
    output = await run_script(  # another instance counts on from the same store
        config,
        [
            ":reply 1 /summarize",
            "/ask one more?",
            ":as carol",
            "/ask mine?",
            ":as steve",
            "/constellation invite",
            "/constellation invite",
        ],
        clock,
    )
    assert (
        output.count(
            "You have used /ask and /summarize 2 time(s) this hour, the limit here; "
            "try again in 15 minutes."
        )
        == 2
    )
    assert "Draft insight" not in output
    assert output.count("You have used") == 2  # carol has her own count
    assert output.count("Invitation created") == 1
    assert "You have created 1 invitation(s) today, the limit here" in output
    assert "Traceback" not in output


# -- ritual schedules: every instance follows the store -----------------------------------


def _ritual(name: str, cron: str) -> NewRitual:
    return NewRitual(
        name=name,
        kind=RitualKind.REFLECTION,
        platform="console",
        space="local",
        channel="general",
        schedule_text=cron,
        cron=cron,
        timezone="UTC",
        window_minutes=60,
    )


async def test_every_instance_schedules_rituals_saved_changed_or_removed_elsewhere(
    database_url: str, tmp_path: Path
) -> None:
    config = make_config(database_url, tmp_path, extra="[rituals]\nreconcile_seconds = 0.05\n")
    a = await Hearth.open(config, timer=False)
    b = await Hearth.open(config, timer=True)  # a SystemClock-less test: APScheduler is real
    rituals = b.services.rituals
    reconciled = asyncio.Event()
    original = rituals._reconcile

    async def observed() -> None:
        await original()
        reconciled.set()

    rituals._timer._reconcile = observed  # type: ignore[union-attr]

    async def settled() -> None:  # two full passes after the change: it has been seen
        for _ in range(2):
            reconciled.clear()
            await asyncio.wait_for(reconciled.wait(), 10)

    try:
        await rituals.start()
        store: RitualStore = a.services.rituals.store
        community = await a.services.directory.community_for_channel("console", "local", "general")
        assert community is not None
        made = await store.create(community.id, _ritual("daily", "0 9 * * *"))
        await settled()
        first = rituals.next_run(made.id)
        assert first is not None and (first.hour, first.minute) == (9, 0)
        await store.change(made.id, cron="30 17 * * *")
        await settled()
        moved = rituals.next_run(made.id)
        assert moved is not None and (moved.hour, moved.minute) == (17, 30)
        await store.change(made.id, paused=True)
        await settled()
        assert rituals.next_run(made.id) is None
        await store.change(made.id, paused=False)
        await settled()
        assert rituals.next_run(made.id) is not None
        await store.remove(made.id)
        await settled()
        assert rituals.next_run(made.id) is None
    finally:
        await rituals.stop()
        await a.close()
        await b.close()


# -- starting together: one migration ------------------------------------------------------


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
async def test_instances_starting_together_on_an_empty_database_migrate_once(
    backend: str, tmp_path: Path
) -> None:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'fresh.db'}"
    else:
        if ADMIN_URL == "off":
            pytest.skip("HEARTH_TEST_POSTGRES=off")
        name = f"hearth_fresh_{uuid.uuid4().hex[:10]}"
        await _admin(f'CREATE DATABASE "{name}"')
        url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    config = make_config(url, tmp_path)
    try:
        opened = await asyncio.wait_for(  # a hang guard: without the lock they deadlock
            asyncio.gather(*(open_store(config) for _ in range(4))), 120
        )
        try:
            assert await current_revision(opened[0]) == head_revision()
            assert await schema_drift(opened[0]) == []
        finally:
            for database in opened:
                await database.dispose()
    finally:
        if backend == "postgresql":
            await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_shard_ids_need_a_shard_count_and_must_fit_in_it() -> None:
    assert DiscordConfig(shard_count=2, shard_ids=[1]).shard_ids == [1]
    wrongs: list[dict[str, Any]] = [
        {"shard_ids": [0]},
        {"shard_count": 2, "shard_ids": [2]},
        {"shard_count": 2, "shard_ids": []},
    ]
    for wrong in wrongs:
        with pytest.raises(ValidationError, match="shard"):
            DiscordConfig(**wrong)
