"""A process that takes one inbound event and then hangs until it is killed.

`python -m tests.harness.inbound_taker <database url> <platform> <event id>` prints `taken`
once the event is taken (its instance lock held), then waits on stdin; the tests kill it
with SIGKILL, so it never finishes the event, exactly like a crash mid-handling.
"""

from __future__ import annotations

import asyncio
import sys

from knowledge.db import open_database
from knowledge.inbound import InboundLog


async def main(url: str, platform: str, event_id: str) -> None:
    database = open_database(url)
    taken = await InboundLog(database).take(platform, event_id)
    print("taken" if taken else "skipped", flush=True)
    await asyncio.to_thread(sys.stdin.read)  # until killed (or stdin closes)
    await database.dispose()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
