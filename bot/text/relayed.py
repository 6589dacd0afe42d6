"""Relayed copies as documents: the original's formatting, who wrote it, and its files.

Why here and not in each adapter: every platform shows the same three things on a copy
(the words, the attribution it cannot show natively, the attachments as links), and the
copy's text must never ping anyone on the target; building the document in one place
keeps those rules in one place, and each adapter only adds what it shows natively.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.text.model import Block, Bold, Document, Link, Paragraph, Text, inlines
from bot.text.neutral import from_discord, from_matrix_html, from_slack, parse


def document_of(platform: str, text: str, markup: str | None) -> Document:
    """The neutral document of a message from `platform` (its markup when it has one)."""
    if markup is None:
        return parse(text) if platform == "console" else Document((Paragraph((Text(text),)),))
    if platform == "discord":
        return from_discord(markup)
    if platform == "slack":
        return from_slack(markup)
    if platform == "matrix":
        return from_matrix_html(markup, text)
    return parse(markup)


def human_size(size: int | None) -> str:
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return ""  # pragma: no cover


def with_attachments(doc: Document, attachments: Sequence[tuple[str, str, int | None]]) -> Document:
    """Files as `📎 name (size)` links after the words: the copy links, never re-uploads."""
    if not attachments:
        return doc
    lines: list[Block] = []
    for name, url, size in attachments:
        shown = f" ({human_size(size)})" if size is not None else ""
        lines.append(Paragraph(inlines((Text("📎 "), Link(url, (Text(name),)), Text(shown)))))
    return Document((*doc.blocks, *lines))


def with_author_prefix(doc: Document, author: str, community: str) -> Document:
    """`**Author** (Community): …` for platforms that cannot post under another name."""
    head = (Bold((Text(author),)), Text(f" ({community}): "))
    blocks = list(doc.blocks)
    if blocks and isinstance(blocks[0], Paragraph):
        blocks[0] = Paragraph(inlines((*head, *blocks[0].children)))
    else:
        blocks.insert(0, Paragraph(inlines(head)))
    return Document(tuple(blocks))


def with_source_link(doc: Document, link: str | None, community: str) -> Document:
    """A last line linking to the original, so readers can go where it was said."""
    if not link:
        return doc
    footer = Paragraph((Text("↪ "), Link(link, (Text(f"original in {community}"),))))
    return Document((*doc.blocks, footer))
