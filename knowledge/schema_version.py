"""Is the database already at the newest schema? Answered without importing Alembic.

Alembic (and what it imports) is a sizeable share of `hearth run`'s start-up, and nearly
every start finds the schema current. The head revision is read from the migration
files' `revision` / `down_revision` lines and the database's from `alembic_version`;
when they agree there is nothing to migrate. Anything else (an empty database, a merge,
an unreadable file) answers None and the caller asks Alembic, as before.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from knowledge.db import Database

VERSIONS = Path(__file__).resolve().parent / "migrations" / "versions"


# A top-level `revision = "..."` / `down_revision: str | None = "..."` line. Only these
# lines are read: parsing every migration file whole took 80 ms of each start-up.
ASSIGNMENT = re.compile(r"^(revision|down_revision)\s*(?::[^=]*)?=\s*(.*?)\s*$", re.MULTILINE)


@cache
def head_revision() -> str | None:
    """The one revision no other revision names as its `down_revision`, or None."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in VERSIONS.glob("*.py"):
        if path.name.startswith("_"):
            continue
        found: dict[str, object] = {}
        try:
            source = path.read_text(encoding="utf-8")
        except (OSError, ValueError):
            return None
        for match in ASSIGNMENT.finditer(source):
            try:
                found[match[1]] = ast.literal_eval(match[2])
            except (ValueError, SyntaxError):
                return None  # a value spread over lines, or computed: let Alembic decide
        revision, parent = found.get("revision"), found.get("down_revision")
        if not isinstance(revision, str) or not isinstance(parent, str | None):
            return None  # a merge (tuple) or something unexpected: let Alembic decide
        revisions.add(revision)
        if parent is not None:
            parents.add(parent)
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


async def stored_revision(database: Database) -> str | None:
    """The database's revision in `alembic_version`, or None (none, or cannot tell)."""
    try:
        async with database.engine.connect() as connection:
            rows = (await connection.execute(text("SELECT version_num FROM alembic_version"))).all()
    except DBAPIError:
        return None
    return str(rows[0][0]) if len(rows) == 1 else None


async def is_current(database: Database) -> bool:
    head = head_revision()
    return head is not None and await stored_revision(database) == head
