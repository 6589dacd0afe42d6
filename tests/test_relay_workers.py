"""Several Hearth instances on one database share the relay outbox: each queued relay is
delivered once, and a thread's replies still arrive in order.

On PostgreSQL the claim is `FOR UPDATE SKIP LOCKED`; on SQLite writers queue. Three
instances (three engines, three worker names) drain the same backlog at once into one
console "platform".
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from adapters.console.adapter import ConsoleAdapter
from bot.app import Hearth
from tests.harness.config_builder import FORGE
from tests.harness.console_harness import Step, line, make_config, run_script
from tests.harness.relay_steps import id_of, in_channel, link_steps

THREADS = 24  # more than one claim takes (16), so the instances must share
REPLIES = 4


async def test_three_workers_deliver_each_relay_once_in_order(
    database_url: str, tmp_path: Path
) -> None:
    config = make_config(database_url, tmp_path, others=(FORGE,))
    out = io.StringIO()
    steps: list[Step] = [*link_steps(out)]
    for t in range(THREADS):
        root = f"Root {t}."
        steps += [root, line(lambda root=root: f":reply {id_of(out, 'alice', root)} /relay")]
    for n in range(REPLIES):  # replies interleave across threads
        for t in range(THREADS):
            steps.append(
                line(lambda t=t, n=n: f":reply {id_of(out, 'alice', f'Root {t}.')} r{t}.{n}")
            )
    await run_script(config, steps, out=out)  # queued, never delivered (no drain)
    assert not [m for m in in_channel(tmp_path, "hall") if m["shown_as"]]

    console = ConsoleAdapter(config.adapters.console, read_line=None, out=io.StringIO())
    await console.connect()
    instances = [await Hearth.open(config, relay_in_background=False) for _ in range(3)]
    try:
        for hearth in instances:
            hearth.services.relays.attach(console)
        delivered = await asyncio.gather(*(h.relay_worker.drain() for h in instances))
    finally:
        for hearth in instances:
            await hearth.close()
        await console.stop()

    assert sum(delivered) == THREADS * (REPLIES + 1)
    assert sum(1 for d in delivered if d) >= 2, f"the work was not shared: {delivered}"
    copies = [m for m in in_channel(tmp_path, "hall") if m["shown_as"]]
    texts = [m["text"].split("\n")[0] for m in copies]
    assert len(texts) == len(set(texts)) == THREADS * (REPLIES + 1), "a relay was duplicated"
    by_id = {m["id"]: m for m in copies}
    for t in range(THREADS):
        (root,) = [m for m in copies if m["text"].startswith(f"Root {t}.\n")]
        thread = [m["text"].split("\n")[0] for m in copies if m["reply_to"] == root["id"]]
        assert thread == [f"r{t}.{n}" for n in range(REPLIES)], "out of order"
    assert by_id
