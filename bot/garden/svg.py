"""Geometry for the garden's drawings (the constellation, bar plots), computed on the
server (no JavaScript).

The templates draw what these return; every label is escaped there by Jinja2.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from knowledge.garden import ConstellationEdge, PublicCommunity

WIDTH = 640
HEIGHT = 420
MIN_RADIUS, MAX_RADIUS = 14.0, 46.0


@dataclass(frozen=True)
class Node:
    community: PublicCommunity
    x: float
    y: float
    r: float
    label_y: float  # below the circle


@dataclass(frozen=True)
class Edge:
    x1: float
    y1: float
    x2: float
    y2: float
    width: float
    label: str  # for the <title>: what the line stands for


@dataclass(frozen=True)
class Graph:
    width: int
    height: int
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]


def constellation(
    communities: Sequence[PublicCommunity], edges: Sequence[ConstellationEdge]
) -> Graph:
    """Communities on a circle (the largest at the top, then clockwise by size), sized by
    the square root of their public insights; lines as wide as what flowed between them."""
    largest = max((c.public_insights for c in communities), default=1) or 1
    count = len(communities)
    cx, cy = WIDTH / 2, HEIGHT / 2 - 10
    ring = 0.0 if count == 1 else min(WIDTH, HEIGHT) / 2 - MAX_RADIUS - 24
    nodes: list[Node] = []
    for index, community in enumerate(communities):
        start = math.pi if count == 2 else -math.pi / 2  # two side by side, else top first
        angle = start + 2 * math.pi * index / max(count, 1)
        share = math.sqrt(community.public_insights / largest)
        r = MIN_RADIUS + (MAX_RADIUS - MIN_RADIUS) * share
        x, y = cx + ring * math.cos(angle), cy + ring * math.sin(angle)
        nodes.append(Node(community, round(x, 1), round(y, 1), round(r, 1), round(y + r + 16, 1)))
    where = {n.community.id: n for n in nodes}
    heaviest = max((e.relayed_threads + e.adopted for e in edges), default=1) or 1
    lines: list[Edge] = []
    for edge in edges:
        a, b = where.get(edge.a), where.get(edge.b)
        if a is None or b is None:
            continue
        weight = edge.relayed_threads + edge.adopted
        label = (
            f"{a.community.name} – {b.community.name}: {edge.relayed_threads} relayed "
            f"thread(s), {edge.adopted} adopted insight(s)"
        )
        width = 1.5 + 8.5 * weight / heaviest
        lines.append(Edge(a.x, a.y, b.x, b.y, round(width, 1), label))
    return Graph(WIDTH, HEIGHT, tuple(nodes), tuple(lines))


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    height: float
    count: int
    label: str  # "5 in the week to 2026-03-02"


@dataclass(frozen=True)
class Plot:
    width: int
    height: int
    bar_width: float
    bars: tuple[Bar, ...]
    peak: int


def weekly_bars(counts: Sequence[int], labels: Sequence[str]) -> Plot:
    return _bars(counts, max(counts, default=0), labels)


def rate_bars(percents: Sequence[int], labels: Sequence[str]) -> Plot:
    """Shares from 0 to 100 (a ritual's rounds answered, per month) on a fixed scale, so
    plots of different rituals compare at a glance."""
    return _bars(percents, 100, labels)


def _bars(values: Sequence[int], peak: int, labels: Sequence[str]) -> Plot:
    width, height, pad = 320, 80, 2.0
    step = width / max(len(values), 1)
    bars = []
    for index, (count, label) in enumerate(zip(values, labels, strict=True)):
        h = 0.0 if peak == 0 else (height - 4) * count / peak
        h = max(h, 1.0)  # an empty period still shows as a line
        x = round(index * step + pad / 2, 1)
        bars.append(Bar(x, round(height - h, 1), round(h, 1), count, label))
    return Plot(width, height, round(step - pad, 1), tuple(bars), max(values, default=0))
