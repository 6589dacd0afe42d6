"""`RelayLookup.locate` on SQLite: the same questions in plain SQL, in one hop.

Why: every message in a linked channel (and every top-level one in any channel Hearth is
in) asks whether it is a copy and which relayed thread it belongs to, inside the write
transaction that records it. Through the ORM that was two to five statements, each a trip
to aiosqlite's thread plus statement building and row loading (issue #17's profile); here
it is one function on the connection's thread, inside the caller's transaction. The
queries mirror `relay_lookup._locate` and `_participant_for` statement for statement.
"""

from __future__ import annotations

import sqlite3

from knowledge.relay_rows import ChannelKey, Located, Participant

Question = tuple[ChannelKey, str, str | None, str | None]  # channel, message, root, reply

_COLUMNS = (  # Participant's fields, in order
    "p.id, p.relay_thread_id, p.community_id, p.link_id, p.platform, p.space, p.channel,"
    " p.anchor_id"
)
_HERE = "p.platform = ? AND p.space = ? AND p.channel = ?"


def locate_on_thread(connection: sqlite3.Connection, question: Question) -> Located:
    channel, message_id, thread_root, reply_to = question
    copy = connection.execute(
        "SELECT c.id FROM relay_copies AS c JOIN relay_participants AS p"
        f" ON p.id = c.participant_id WHERE {_HERE} AND c.copy_id = ? LIMIT 1",
        (*channel, message_id),
    ).fetchall()
    if copy:
        return Located(True, None, ())
    if thread_root is not None:  # the usual case: the thread and everyone in one query
        rows = _participants(
            connection,
            "p.relay_thread_id IN (SELECT q.relay_thread_id FROM relay_participants AS q"
            " WHERE q.platform = ? AND q.space = ? AND q.channel = ? AND q.anchor_id = ?)",
            (*channel, thread_root),
        )
        here = [p for p in rows if p.key == channel and p.anchor_id == thread_root]
        if here:
            thread_id = here[0].relay_thread_id
            return Located(False, here[0], tuple(p for p in rows if p.relay_thread_id == thread_id))
    if reply_to is None:
        return Located(False, None, ())
    by_reply = _by_reply(connection, channel, reply_to)
    if by_reply is None:
        return Located(False, None, ())
    everyone = _participants(connection, "p.relay_thread_id = ?", (by_reply.relay_thread_id,))
    return Located(False, by_reply, tuple(everyone))


def _by_reply(
    connection: sqlite3.Connection, channel: ChannelKey, reply_to: str
) -> Participant | None:
    """What the message replies to: a thread's anchor, a relayed message or a copy."""
    for where in (
        f"{_HERE} AND p.anchor_id = ?",
        "p.id IN (SELECT m.participant_id FROM relay_messages AS m WHERE m.message_id = ?)"
        f" AND {_HERE}",
        f"p.id IN (SELECT c.participant_id FROM relay_copies AS c WHERE c.copy_id = ?) AND {_HERE}",
    ):
        first = where.startswith("p.platform")
        parameters = (*channel, reply_to) if first else (reply_to, *channel)
        found = _participants(connection, where, parameters, limit=1)
        if found:
            return found[0]
    return None


def _participants(
    connection: sqlite3.Connection, where: str, parameters: tuple[object, ...], limit: int = 0
) -> list[Participant]:
    order = " LIMIT 1" if limit else " ORDER BY p.id"
    rows = connection.execute(
        f"SELECT {_COLUMNS} FROM relay_participants AS p WHERE {where}{order}", parameters
    ).fetchall()
    return [Participant(*row) for row in rows]
