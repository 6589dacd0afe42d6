"""Fault injection for crash tests: die like `kill -9` at a named step.

`HEARTH_FAULT=<step>:<n>` makes the process SIGKILL itself the n-th time it passes
`crash_point("<step>")` (n defaults to 1). Steps: `inbound.after_take`,
`inbound.after_handle`, `inbound.after_reply` (bot/inbound.py),
`matrix.before_token_save` (adapters/matrix/adapter.py) and `reindex.after_batch`
(bot/cli/data.py, after a batch's commit). Unset, a crash point costs one
comparison. The variable is read here only, once, at import.
"""

from __future__ import annotations

import os
import signal

import structlog

log = structlog.get_logger(__name__)


def _parse(spec: str) -> tuple[str, int] | None:
    step, _, count = spec.strip().partition(":")
    if not step:
        return None
    if count and not count.isdigit():
        log.warning("fault.ignored", spec=spec, reason="the count after ':' is not a number")
        return None
    return step, int(count or 1)


_FAULT = _parse(os.environ.get("HEARTH_FAULT", ""))
_passed = 0


def crash_point(step: str) -> None:
    """Die here, without any clean-up, if HEARTH_FAULT names this step and pass."""
    global _passed
    if _FAULT is None or _FAULT[0] != step:
        return
    _passed += 1
    if _passed >= _FAULT[1]:
        log.warning("fault.crashing", step=step, passed=_passed)
        os.kill(os.getpid(), signal.SIGKILL)
