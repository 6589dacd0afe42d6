"""Two Hearth instances on one database run a joint ritual between three communities:
each community's round opens once, its prompt is posted once at its own hour, and each
gets its constellation synthesis once, however the instances race."""

from __future__ import annotations

import asyncio
import dataclasses
import io
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from adapters.console.adapter import ConsoleAdapter
from bot.app import Hearth
from knowledge.clock import ManualClock
from knowledge.rituals import NewRitual
from knowledge.vocabulary import RitualKind
from tests.harness.config_builder import FORGE, GUILD, MILL, build_config
from tests.harness.ritual_instances import nobody_types

BERLIN = ZoneInfo("Europe/Berlin")
NINE = datetime(2026, 11, 30, 9, 0, tzinfo=BERLIN)
FORGE_17 = datetime(2026, 11, 30, 17, 0, tzinfo=ZoneInfo("America/New_York"))
CLOSE = NINE + timedelta(hours=20)


async def joint_between_three(hearth: Hearth) -> None:
    """The guild proposes a daily joint check-in (20 hours to answer); the forge takes it at 17:00 its time,
    the mill at the slot."""
    services = hearth.services
    now = services.clock.now()
    ids = {}
    for slug, channel, steward in (
        ("guild", "general", "steve"),
        ("forge", "hall", "fran"),
        ("mill", "yard", "milo"),
    ):
        community = await services.directory.community_by_slug(slug)
        assert community is not None
        member = await services.directory.resolve_member(community.id, "console", steward, steward)
        ids[slug] = (community.id, member.id, ("console", "local", channel))
    links = services.relays.links
    for other in ("forge", "mill"):
        _, code = await links.invite(ids["guild"][0], ids["guild"][1], ids["guild"][2], now=now)
        await links.accept(code, ids[other][0], ids[other][1], ids[other][2], now=now)
    store = services.rituals.store
    joint, _ = await store.propose(
        ids["guild"][0],
        NewRitual(
            name="checkin",
            kind=RitualKind.CHECKIN,
            platform="console",
            space="local",
            channel="general",
            schedule_text="daily at 9:00",
            cron="0 9 * * *",
            timezone="Europe/Berlin",
            window_minutes=20 * 60,  # until 04:00 UTC: the forge's 17:00 (22:00 UTC) fits
            prompt="What did you learn today?",
        ),
        [ids["forge"][0], ids["mill"][0]],
    )
    await store.decide(
        joint.id,
        ids["forge"][0],
        ids["forge"][1],
        now,
        accept=True,
        channel=ids["forge"][2],
        local_time="17:00 America/New_York",
    )
    await store.decide(
        joint.id, ids["mill"][0], ids["mill"][1], now, accept=True, channel=ids["mill"][2]
    )


async def test_two_instances_open_each_communitys_joint_round_and_synthesis_once(
    database_url: str, tmp_path: Path
) -> None:
    forge = dataclasses.replace(FORGE, timezone="America/New_York")
    mill = dataclasses.replace(MILL, timezone="Asia/Tokyo")
    start = NINE - timedelta(hours=1)
    hearths = []
    for n in range(2):
        folder = tmp_path / f"p{n}"
        folder.mkdir()
        config = build_config(database_url, folder, GUILD, forge, mill)
        hearths.append(await Hearth.open(config, ManualClock(start)))
    # One console both instances post through (one transcript): every thread a
    # synthesis answers is found whichever instance claims it.
    out = io.StringIO()
    adapter = ConsoleAdapter(config.adapters.console, nobody_types, out)
    await adapter.connect()
    for hearth in hearths:
        hearth.services.rituals.attach(adapter)
    await adapter.start(hearths[0].inbound)
    try:
        await joint_between_three(hearths[0])
        prompts = []
        for moment in (NINE, NINE + timedelta(minutes=1), FORGE_17, CLOSE):
            for hearth in hearths:
                hearth.services.rituals.clock.set(moment)  # type: ignore[attr-defined]
            for _ in range(2):  # twice each, all at once: every step is claimed once
                await asyncio.gather(*(h.services.rituals.tick() for h in hearths))
            prompts.append(out.getvalue().count("What did you learn today?"))
    finally:
        await adapter.stop()
        for hearth in hearths:
            await hearth.close()
    printed = out.getvalue()
    assert prompts == [2, 2, 3, 3]  # the guild and the mill at 9:00, the forge at its 17:00
    assert printed.count("round closed without responses") == 3
    assert printed.count("🌌 Constellation synthesis") == 3
    assert printed.count("0 response(s) from 3 communities") == 3
