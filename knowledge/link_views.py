"""Links as the relay and the commands see them, and their one-hop read on SQLite.

Why the read here: every message in a linked channel asks which links carry it (the
channel's whole-channel links for a top-level message, the links among a thread's
communities for a reply), inside the transaction that records it. Through the ORM that
loaded three entities per row; `views_on_thread` runs the same query as
`LinkStore._views` in plain SQL, in one hop inside the caller's transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from knowledge.vocabulary import LinkStatus

# (the WHERE over `links l2` joined with `link_sides s2`, its parameters, a reader of
# the stored timestamps)
Question = tuple[str, tuple[Any, ...], Callable[[Any], datetime | None]]


@dataclass(frozen=True)
class Side:
    community_id: int
    slug: str
    name: str
    platform: str
    space: str
    channel: str
    sends: bool
    receives: bool
    paused: bool
    shares_knowledge: bool


@dataclass(frozen=True)
class LinkView:
    id: int
    status: LinkStatus
    whole_channel: bool
    sides: tuple[Side, ...]
    code_expires_at: datetime | None

    def side(self, community_id: int) -> Side:
        return next(s for s in self.sides if s.community_id == community_id)

    def other(self, community_id: int) -> Side | None:
        return next((s for s in self.sides if s.community_id != community_id), None)

    @property
    def paused(self) -> bool:
        return any(s.paused for s in self.sides)

    @property
    def flowing(self) -> bool:
        return self.status == LinkStatus.ACTIVE and not self.paused

    def carries(self, sender: int, receiver: int) -> bool:
        """True if a message from community `sender` may reach `receiver` now."""
        if not self.flowing or sender == receiver:
            return False
        ids = {s.community_id for s in self.sides}
        return (
            ids == {sender, receiver} and self.side(sender).sends and self.side(receiver).receives
        )


def views_on_thread(connection: sqlite3.Connection, question: Question) -> list[LinkView]:
    """On SQLite's thread: the links matching the WHERE, each with all of its sides."""
    where, parameters, read_time = question
    rows = connection.execute(
        "SELECT l.id, l.status, l.whole_channel, l.code_expires_at, s.community_id, c.slug,"
        " c.name, s.platform, s.space, s.channel, s.sends, s.receives, s.paused,"
        " s.shares_knowledge FROM links AS l JOIN link_sides AS s ON s.link_id = l.id"
        " JOIN communities AS c ON c.id = s.community_id WHERE l.id IN (SELECT l2.id FROM"
        f" links AS l2 JOIN link_sides AS s2 ON s2.link_id = l2.id WHERE {where})"
        " ORDER BY l.id, s.id",
        parameters,
    ).fetchall()
    grouped: dict[int, tuple[tuple[Any, ...], list[Side]]] = {}
    for row in rows:
        sides = grouped.setdefault(row[0], (row, []))[1]
        sides.append(Side(*row[4:10], *(bool(flag) for flag in row[10:14])))
    return [
        LinkView(row[0], LinkStatus(row[1]), bool(row[2]), tuple(sides), read_time(row[3]))
        for row, sides in grouped.values()
    ]
