"""Relay latency between two Hearth deployments (ActivityPub on loopback) vs inside one.

Both sides are real `hearth run` processes with the console adapter, each on its own
SQLite file, started from the same config builder the tests use. Inside one deployment,
the guild (#general) and the forge (#hall) share one process and are linked with
`/constellation invite` / `accept`; across deployments each community has its own
process, database and port, linked with `accept <code>@127.0.0.1:<port>`. In both, a
thread of the guild is relayed with `/relay`, then, one at a time, alice replies in it and
the clock stops when the forge's console prints the copy. Across deployments the copy
travels as a signed Create(Note) (RSA-2048 signing, HTTP POST, signature check with the
cached key, the inbox's durable write, the handler, the relay outbox on the other side).

    .venv/bin/python bench/federation.py            # N=30 of each
    .venv/bin/python bench/federation.py --n 100    # `--warmup` (default 3) untimed

Prints medians and p95 of both and the ratio (issue 19's goal: across within +50 ms of
inside at the median). Runs alternate (inside, across) so load drifts hit both.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.harness.config_builder import FORGE, GUILD, Community, write_config
from tests.harness.processes import HearthProcess
from tests.test_federation import free_port

PASSPHRASE_ENV = "HEARTH_BENCH_FEDERATION_PASSPHRASE"
BANNER = r"^Hearth console: you are alice"


def config(workdir: Path, *communities: Community, port: int | None = None) -> Path:
    workdir.mkdir(parents=True)
    extra = ""
    if port is not None:
        extra = f"""
[web]
listen = "127.0.0.1:{port}"

[federation]
enabled = true
key_passphrase = "${{{PASSPHRASE_ENV}}}"
allow_loopback_for_tests = true
poll_seconds = 1.0
"""
    return write_config(
        workdir / "hearth.toml",
        f"sqlite:///{workdir / 'hearth.db'}",
        *communities,
        transcript=workdir / "console.jsonl",
        extra=extra,
    )


def timed(
    sender: HearthProcess, receiver: HearthProcess, root: int, copy_root: int, n: int, label: str
) -> list[float]:
    times = []
    for i in range(n):
        text = f"{label} {i}"
        start = time.perf_counter()
        sender.send(f":reply {root} {text}")
        receiver.expect(rf"via hearth → #{copy_root}: {text}$")
        times.append((time.perf_counter() - start) * 1000)
    return times


def relayed_root(guild: HearthProcess, forge: HearthProcess) -> tuple[int, int]:
    guild.send(":channel general", ":as alice", "Bench root")
    root = int(guild.expect(r"^#(\d+) alice: Bench root$")[1])
    guild.send(f":reply {root} /relay")
    copy = int(forge.expect(r"^#(\d+) alice \(The Guild\) via hearth: Bench root")[1])
    return root, copy


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    os.environ[PASSPHRASE_ENV] = "bench passphrase"
    base = Path(tempfile.mkdtemp(prefix="hearth-fed-bench-"))
    try:
        one = config(base / "one", GUILD, FORGE)
        garden_port, works_port = free_port(), free_port()
        garden = config(base / "garden", GUILD, port=garden_port)
        works = config(base / "works", FORGE, port=works_port)
        with (
            HearthProcess(one, base / "one") as single,
            HearthProcess(garden, base / "garden") as guild,
            HearthProcess(works, base / "works") as forge,
        ):
            for process in (single, guild, forge):
                process.expect(BANNER, timeout=120)
            single.send(":as steve", "/constellation invite")
            code = single.expect(r"(HL-[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4})")[1]
            single.send(":as fran", ":channel hall", f"/constellation accept {code}")
            single.expect(r"Linked with The Guild")
            inside = relayed_root(single, single)

            guild.send(":as steve", "/constellation invite")
            remote = guild.expect(r"accept (HL-[A-Z0-9-]+@127\.0\.0\.1:\d+)")[1]
            forge.send(":as fran", ":channel hall", f"/constellation accept {remote}")
            forge.expect(r"Linked with The Guild")
            guild.expect(r"Linked with The Forge")
            across = relayed_root(guild, forge)

            timed(single, single, *inside, args.warmup, "warm-in")
            timed(guild, forge, *across, args.warmup, "warm-across")
            local: list[float] = []
            federated: list[float] = []
            for i in range(args.n):
                local += timed(single, single, *inside, 1, f"in{i}")
                federated += timed(guild, forge, *across, 1, f"across{i}")
            for process in (single, guild, forge):
                process.quit()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    m_in, m_out = statistics.median(local), statistics.median(federated)
    print(f"load average: {os.getloadavg()[0]:.1f}; n={args.n} each, alternating")
    print(f"inside one deployment:   p50 {m_in:7.1f} ms  p95 {percentile(local, 0.95):7.1f} ms")
    print(
        f"across two deployments:  p50 {m_out:7.1f} ms  p95 {percentile(federated, 0.95):7.1f} ms"
    )
    print(f"ratio across/inside p50: {m_out / m_in:.2f}x  (added {m_out - m_in:+.1f} ms; goal +50)")


if __name__ == "__main__":
    main()
