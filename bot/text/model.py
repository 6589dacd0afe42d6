"""The neutral document: what every platform's message text is converted into.

Why a tree of frozen dataclasses rather than a Markdown string: a relay must know what is
a mention and what is only text that looks like one. Once a message is a `Document`, a
mention exists only as a `UserMention` node (which a renderer may turn into a plain name)
and everything else is `Text` (which a renderer escapes and defuses). Nodes are frozen and
hashable, so documents compare by value and round-trip tests can use `==`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeAlias


@dataclass(frozen=True)
class Text:
    """Literal text: never markup, never a mention, whatever characters it holds."""

    text: str


@dataclass(frozen=True)
class LineBreak:
    """A line break inside a paragraph (chat users mean a new line when they press Enter)."""


@dataclass(frozen=True)
class Bold:
    children: tuple[Inline, ...]


@dataclass(frozen=True)
class Italic:
    children: tuple[Inline, ...]


@dataclass(frozen=True)
class Strike:
    children: tuple[Inline, ...]


@dataclass(frozen=True)
class Code:
    """Inline code: its text is shown verbatim, no formatting inside."""

    text: str


@dataclass(frozen=True)
class Link:
    """A link with a label; renderers drop the link (keep the label) unless the URL is safe."""

    url: str
    children: tuple[Inline, ...]


@dataclass(frozen=True)
class UserMention:
    """A person, named by the platform they live on: only that platform can ping them."""

    platform: str
    user_id: str
    display_name: str


@dataclass(frozen=True)
class ChannelMention:
    """A channel or room reference; outside its own platform it is only a name."""

    platform: str
    channel_id: str
    name: str


Inline: TypeAlias = (
    Text | LineBreak | Bold | Italic | Strike | Code | Link | UserMention | ChannelMention
)


@dataclass(frozen=True)
class Paragraph:
    children: tuple[Inline, ...]


@dataclass(frozen=True)
class Quote:
    blocks: tuple[Block, ...]


@dataclass(frozen=True)
class ListBlock:
    """A bulleted (`ordered=False`) or numbered list; each item is a sequence of blocks."""

    items: tuple[tuple[Block, ...], ...]
    ordered: bool = False
    start: int = 1


@dataclass(frozen=True)
class CodeBlock:
    text: str
    language: str = ""


Block: TypeAlias = Paragraph | Quote | ListBlock | CodeBlock


@dataclass(frozen=True)
class Document:
    blocks: tuple[Block, ...] = ()


def inlines(nodes: Iterable[Inline]) -> tuple[Inline, ...]:
    """Normal form of an inline run: adjacent texts merged, empty texts and wrappers dropped.

    Every importer builds through this, so the same message reached by two routes is the
    same value (that is what makes round trips comparable).
    """
    out: list[Inline] = []
    for node in nodes:
        if isinstance(node, Text):
            if not node.text:
                continue
            if out and isinstance(out[-1], Text):
                out[-1] = Text(out[-1].text + node.text)
                continue
        elif isinstance(node, Bold | Italic | Strike) and not node.children:
            continue
        out.append(node)
    return tuple(out)


def strip_inlines(nodes: tuple[Inline, ...]) -> tuple[Inline, ...]:
    """Drop leading/trailing whitespace and line breaks of a paragraph's run."""
    items = list(nodes)
    while items and isinstance(items[0], LineBreak):
        items.pop(0)
    while items and isinstance(items[-1], LineBreak):
        items.pop()
    if items and isinstance(items[0], Text):
        items[0] = Text(items[0].text.lstrip())
    if items and isinstance(items[-1], Text):
        items[-1] = Text(items[-1].text.rstrip())
    return inlines(items)


def paragraph(nodes: Iterable[Inline]) -> Paragraph | None:
    """A paragraph of these inlines, or None if nothing visible is left."""
    children = strip_inlines(inlines(nodes))
    return Paragraph(children) if children else None


def plain_text(nodes: Iterable[Inline]) -> str:
    """The visible words of an inline run (for link labels and comparisons)."""
    parts: list[str] = []
    for node in nodes:
        if isinstance(node, Text | Code):
            parts.append(node.text)
        elif isinstance(node, LineBreak):
            parts.append("\n")
        elif isinstance(node, UserMention):
            parts.append("@" + node.display_name)
        elif isinstance(node, ChannelMention):
            parts.append("#" + node.name)
        else:
            parts.append(plain_text(node.children))
    return "".join(parts)
