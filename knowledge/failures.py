"""Failures from outside the code (disk, locks, permissions, the database server), in words.

A person who hits one of these gets one sentence saying what happened and what to do;
the cause goes to the log. `explain` walks the exception chain (SQLAlchemy wraps the
driver's error, which may wrap an OSError) and returns None for anything it does not
recognise, so real bugs still surface as incidents.
"""

from __future__ import annotations

import errno
import sqlite3

BUSY_SECONDS = 30  # the SQLite busy timeout set in knowledge.db

DISK_FULL = "The disk holding the database is full; free some space, then try again."
BUSY = (
    f"The database is busy (locked by another process for over {BUSY_SECONDS} s); "
    "try again in a moment."
)
READ_ONLY = (
    "The database is read-only (the file, its folder or the disk refuses writes); "
    "make it writable for Hearth, then try again."
)
CANNOT_OPEN = (
    "The database file cannot be opened or written (its folder may be read-only or "
    "missing, or the disk full); check the folder, then try again."
)
IO_ERROR = (
    "The disk holding the database reported an I/O error (full, removed or failing); "
    "check it, then try again."
)
NUL = (
    "The text contains a NUL character (\\0), which the database cannot store; "
    "remove it and try again."
)
NOT_UNICODE = (
    "The text contains characters that are not valid Unicode (stray bytes or half an "
    "emoji), which the database cannot store; remove them and try again."
)
UNREACHABLE = "The database server cannot be reached; check that it is running, then try again."

_SQLSTATES = {
    "53100": DISK_FULL,  # disk_full
    "53200": "The database server is out of memory; try again in a moment.",
    "22021": NUL,  # character_not_in_repertoire: a NUL byte in text
    "22P05": NUL,  # untranslatable_character
    "55P03": BUSY,  # lock_not_available
    "40P01": "The database gave up on a deadlock; try again.",
    "25006": READ_ONLY,  # read_only_sql_transaction
    "57P03": UNREACHABLE,  # cannot_connect_now
}
_SQLITE_MESSAGES = (
    ("database or disk is full", DISK_FULL),
    ("database is locked", BUSY),
    ("database table is locked", BUSY),
    ("readonly database", READ_ONLY),
    ("unable to open database file", CANNOT_OPEN),
    ("disk i/o error", IO_ERROR),
)


def _chain(exc: BaseException) -> list[BaseException]:
    """`exc`, the driver error SQLAlchemy wraps (`orig`), causes and contexts, breadth-first."""
    seen: list[BaseException] = []
    todo = [exc]
    while todo and len(seen) < 12:
        current = todo.pop(0)
        if any(current is s for s in seen):
            continue
        seen.append(current)
        for nxt in (getattr(current, "orig", None), current.__cause__, current.__context__):
            if isinstance(nxt, BaseException):
                todo.append(nxt)
    return seen


def explain_os_error(exc: OSError, what: str = "the file") -> str | None:
    """A file-system failure while writing `what` (e.g. "the export"), or None."""
    where = f" ({exc.filename})" if exc.filename else ""
    if exc.errno == errno.ENOSPC or exc.errno == errno.EDQUOT:
        return f"The disk is full, so {what} could not be written{where}; free some space."
    if exc.errno == errno.EROFS:
        return f"{what.capitalize()} could not be written{where}: the disk is read-only."
    if exc.errno in (errno.EACCES, errno.EPERM):
        return (
            f"{what.capitalize()} could not be written{where}: permission denied; "
            "choose a folder Hearth may write to, or fix its permissions."
        )
    if exc.errno in (errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH):
        return UNREACHABLE
    return None


def explain(exc: BaseException) -> str | None:
    """One sentence for a known outside failure anywhere in `exc`'s chain, else None."""
    for link in _chain(exc):
        sqlstate = getattr(link, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate in _SQLSTATES:
            return _SQLSTATES[sqlstate]
        if isinstance(link, sqlite3.Error):
            text = str(link).lower()
            for needle, sentence in _SQLITE_MESSAGES:
                if needle in text:
                    return sentence
        if isinstance(link, UnicodeEncodeError):
            return NOT_UNICODE
        if isinstance(link, OSError):
            explained = explain_os_error(link)
            if explained is not None:
                return explained
    return None


def root_cause(exc: BaseException) -> str:
    """The innermost error of the chain, for a log line that needs no traceback."""
    return repr(_chain(exc)[-1])
