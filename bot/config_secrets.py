"""Secrets come from the environment: a config file names them as `${NAME}`."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def is_env_reference(value: str) -> bool:
    """True for `${NAME}`: what a raw (unexpanded) secret must look like in the file."""
    return bool(ENV_REF.fullmatch(value))


def written_inline(section: dict[str, Any], keys: Sequence[str]) -> list[str]:
    """Those of `keys` that a raw config table sets to a value rather than a `${NAME}`."""
    return [
        key
        for key in keys
        if isinstance(section.get(key), str) and section[key] and not is_env_reference(section[key])
    ]
