"""New copies are written already claimed for the running worker and handed to it in
memory, but only where their lane is free: a copy never overtakes an earlier one still
pending (or parked) in the same target channel, a redelivered message hands nothing over
twice, and no other worker's claim round takes a handed row.

Driven through the real stores on both backends: the console links two communities and
relays a thread with `/relay`; the test then records replies as the live path does.
"""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

from bot.app import Hearth
from knowledge.outbox import LEASE, Outbox
from knowledge.relays import Claim, Route
from tests.harness.console_harness import Step, line, run_script
from tests.harness.relay_steps import config_for, id_of, link_steps

GENERAL = ("console", "local", "general")


async def test_copies_are_handed_over_only_where_their_lane_is_free(
    database_url: str, tmp_path: Path
) -> None:
    config = config_for(database_url, tmp_path)
    out = io.StringIO()
    steps: list[Step] = [
        *link_steps(out),
        "How do we keep reviews fast?",
        line(lambda: f":reply {id_of(out, 'alice', 'How do we keep reviews fast?')} /relay"),
    ]
    await run_script(config, steps, out=out)  # the root's copy is queued, not delivered
    root_id = id_of(out, "alice", "How do we keep reviews fast?")

    hearth = await Hearth.open(config, relay_in_background=False)
    try:
        relays = hearth.services.relays
        store = relays.store
        located = await store.locate(GENERAL, "none", root_id, None)
        origin = located.participant
        assert origin is not None
        (target,) = [p for p in located.everyone if p.id != origin.id]
        assert target.link_id is not None
        routes = [Route(target.id, target.link_id)]
        now = relays.now()
        mine = Claim("worker-a", now + LEASE)

        async def reply(message_id: str, claim: Claim | None = mine) -> tuple[int, ...]:
            recorded = await store.record(
                origin,
                message_id,
                is_root=False,
                author_name="alice",
                digest=f"d{message_id}",
                routes=routes,
                payload={"text": message_id},
                now=now,
                claim=claim,
            )
            return tuple(h.item_id for h in recorded.handed)

        # the root's copy is not delivered yet (no thread there to reply in): r1 waits
        assert await reply("r1") == ()
        others = Outbox(hearth.database, worker="worker-b")

        async def deliver(count: int) -> None:  # ordinary claim rounds, one per lane
            for _ in range(count):
                (item,) = await others.claim(now)
                await others.delivered(item, f"copy-of-{item.id}", now)
            assert await others.claim(now) == []

        await deliver(2)  # the root, then r1
        # r2 is queued without a claim: r3 must wait behind it, never overtake it
        assert await reply("r2", claim=None) == ()
        assert await reply("r3") == ()
        await deliver(2)

        # the lane is free now: the next reply is handed over, written claimed for "a"
        (handed,) = await reply("r4")
        assert await others.claim(now) == [], "another worker took a handed copy"
        assert await others.claim(now + LEASE + timedelta(seconds=1)) != [], (
            "a handed copy whose worker never delivered it is claimable after the lease"
        )

        # a redelivered event hands nothing over a second time
        assert await reply("r4") == ()
        lanes = await relays.outbox.health([target.link_id])
        assert sum(lane.pending for lane in lanes) == 1 and handed > 0
    finally:
        await hearth.close()
