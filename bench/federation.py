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
    git archive main | tar -x -C /tmp/base          # an earlier build to compare with:
    .venv/bin/python bench/federation.py --baseline /tmp/base

Prints medians and p95 of both and the ratio (issue 19's goal: across within +50 ms of
inside at the median). Runs alternate (inside, across) so load drifts hit both; with
`--baseline <source tree>` a second pair of deployments runs that tree's code, and its
across runs are interleaved with this build's (before/after under the same load).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
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
    parser.add_argument("--baseline", type=Path, help="a source tree of an earlier build")
    args = parser.parse_args()
    os.environ[PASSPHRASE_ENV] = "bench passphrase"
    base = Path(tempfile.mkdtemp(prefix="hearth-fed-bench-"))
    this_tree = str(Path(__file__).resolve().parent.parent)
    try:
        with contextlib.ExitStack() as stack:
            one = config(base / "one", GUILD, FORGE)
            single = stack.enter_context(built(this_tree, one, base / "one"))
            pairs = [("this build", linked_pair(stack, this_tree, base / "now"))]
            if args.baseline is not None:
                baseline = str(args.baseline.resolve())
                pairs.append(("baseline", linked_pair(stack, baseline, base / "before")))
            single.expect(BANNER, timeout=120)
            single.send(":as steve", "/constellation invite")
            code = single.expect(r"(HL-[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4})")[1]
            single.send(":as fran", ":channel hall", f"/constellation accept {code}")
            single.expect(r"Linked with The Guild")
            inside = relayed_root(single, single)
            crossings = [
                (label, guild, forge, link(guild, forge)) for label, (guild, forge) in pairs
            ]

            timed(single, single, *inside, args.warmup, "warm-in")
            for label, guild, forge, across in crossings:
                timed(guild, forge, *across, args.warmup, f"warm-{label[:4]}")
            local: list[float] = []
            federated: dict[str, list[float]] = {label: [] for label, *_ in crossings}
            for i in range(args.n):
                local += timed(single, single, *inside, 1, f"in{i}")
                for label, guild, forge, across in crossings:
                    federated[label] += timed(guild, forge, *across, 1, f"{label[:4]}{i}")
            single.quit()
            for _, guild, forge, _ in crossings:
                guild.quit()
                forge.quit()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    m_in = statistics.median(local)
    print(f"load average: {os.getloadavg()[0]:.1f}; n={args.n} each, interleaved")
    print(f"inside one deployment:   p50 {m_in:7.1f} ms  p95 {percentile(local, 0.95):7.1f} ms")
    for label, times in federated.items():
        m_out = statistics.median(times)
        print(
            f"across ({label:10}):  p50 {m_out:7.1f} ms  p95 {percentile(times, 0.95):7.1f} ms"
            f"  ratio {m_out / m_in:.2f}x  added {m_out - m_in:+.1f} ms (goal +50)"
        )


@contextlib.contextmanager
def built(tree: str, config_file: Path, workdir: Path) -> Iterator[HearthProcess]:
    """A `hearth run` of the code in `tree` (the child's import path, not this one's)."""
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = tree
    try:
        process = HearthProcess(config_file, workdir)
    finally:
        if before is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = before
    with process:
        yield process


def linked_pair(
    stack: contextlib.ExitStack, tree: str, workdir: Path
) -> tuple[HearthProcess, HearthProcess]:
    garden = config(workdir / "garden", GUILD, port=free_port())
    works = config(workdir / "works", FORGE, port=free_port())
    guild = stack.enter_context(built(tree, garden, workdir / "garden"))
    forge = stack.enter_context(built(tree, works, workdir / "works"))
    return guild, forge


def link(guild: HearthProcess, forge: HearthProcess) -> tuple[int, int]:
    for process in (guild, forge):
        process.expect(BANNER, timeout=120)
    guild.send(":as steve", "/constellation invite")
    remote = guild.expect(r"accept (HL-[A-Z0-9-]+@127\.0\.0\.1:\d+)")[1]
    forge.send(":as fran", ":channel hall", f"/constellation accept {remote}")
    forge.expect(r"Linked with The Guild")
    guild.expect(r"Linked with The Forge")
    return relayed_root(guild, forge)


if __name__ == "__main__":
    main()
