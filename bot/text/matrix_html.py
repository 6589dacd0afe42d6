"""Reading Matrix `formatted_body` HTML (and plain `body`) into the neutral model.

Why the standard library's `html.parser` and a whitelist walk rather than nh3 here: nh3
cleans HTML into HTML, but we want a model. The walk keeps only the tags the model can
express and treats everything else as transparent text, so hostile markup (scripts, event
handlers, iframes, `javascript:` links, unbalanced tags) can only ever come out as text or a
link that renderers check again. Nesting is capped so a deeply nested message cannot exhaust
the stack.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import unquote

from bot.text.model import (
    Block,
    Bold,
    ChannelMention,
    Code,
    CodeBlock,
    Inline,
    Italic,
    LineBreak,
    Link,
    ListBlock,
    Paragraph,
    Quote,
    Strike,
    Text,
    UserMention,
    inlines,
    paragraph,
    plain_text,
)

MAX_DEPTH = 24
_VOID = {"br", "hr", "img", "wbr", "input", "meta", "link", "col", "area", "source"}
_DROP = {"script", "style", "mx-reply", "head", "title", "template", "noscript", "textarea"}
_BLOCK = {"p", "div", "blockquote", "ul", "ol", "li", "pre", "hr", "table", "tr", "details"}
_BLOCK |= {"h1", "h2", "h3", "h4", "h5", "h6", "summary", "thead", "tbody", "caption"}
_MATRIX_TO = re.compile(r"^https://matrix\.to/#/([^?/]+)")
_SPACE = re.compile(r"[ \t\n\r\f]+")


@dataclass
class _Element:
    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[_Element | str] = field(default_factory=list)


class _TreeBuilder(HTMLParser):
    """A forgiving tree: stray end tags are ignored, unclosed ones close at the end."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = _Element("root")
        self.stack = [self.root]
        self.dropping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.dropping or tag in _DROP:
            self.dropping += tag not in _VOID
            return
        element = _Element(tag, {key: value or "" for key, value in attrs})
        if tag in _VOID:
            self.stack[-1].children.append(element)
        elif len(self.stack) < MAX_DEPTH:
            self.stack[-1].children.append(element)
            self.stack.append(element)

    def handle_endtag(self, tag: str) -> None:
        if self.dropping:
            self.dropping -= tag in _DROP or tag not in _VOID
            return
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        if not self.dropping:
            self.stack[-1].children.append(data)


def _text_of(element: _Element) -> str:
    return "".join(c if isinstance(c, str) else _text_of(c) for c in element.children)


def _link(element: _Element, users: Callable[[str], str | None], pre: bool) -> Inline:
    href = element.attrs.get("href", "")
    label = inlines(_inline(element, users, pre))
    found = _MATRIX_TO.match(href)
    if found:
        target = unquote(found.group(1))
        name = plain_text(label).strip()
        if target.startswith("@"):
            return UserMention("matrix", target, users(target) or name.lstrip("@") or target)
        if target.startswith(("#", "!")):
            return ChannelMention("matrix", target, name.lstrip("#") or target)
    return Link(href, label or (Text(href),))


def _inline(
    element: _Element, users: Callable[[str], str | None], pre: bool = False
) -> Iterator[Inline]:
    for child in element.children:
        if isinstance(child, str):
            yield Text(child if pre else _SPACE.sub(" ", child))
            continue
        tag = child.tag
        if tag == "br":
            yield LineBreak()
        elif tag in ("strong", "b"):
            yield Bold(inlines(_inline(child, users, pre)))
        elif tag in ("em", "i"):
            yield Italic(inlines(_inline(child, users, pre)))
        elif tag in ("del", "s", "strike"):
            yield Strike(inlines(_inline(child, users, pre)))
        elif tag == "code":
            yield Code(_text_of(child))
        elif tag == "a":
            yield _link(child, users, pre)
        elif tag == "img":
            yield Text(child.attrs.get("alt") or child.attrs.get("title") or "")
        else:
            yield from _inline(child, users, pre)


def _code_block(element: _Element) -> CodeBlock:
    language = ""
    for child in element.children:
        if isinstance(child, _Element) and child.tag == "code":
            for name in child.attrs.get("class", "").split():
                if name.startswith("language-"):
                    language = name.removeprefix("language-")
    return CodeBlock(_text_of(element).removesuffix("\n"), language)


def _blocks(element: _Element, users: Callable[[str], str | None]) -> Iterator[Block]:
    """Block children of `element`; runs of inline content between them become paragraphs."""
    run: list[Inline] = []

    def flush() -> Iterator[Block]:
        para = paragraph(run)
        run.clear()
        if para:
            yield para

    for child in element.children:
        if isinstance(child, str) or child.tag not in _BLOCK:
            run.extend(_inline(_Element("span", children=[child]), users))
            continue
        yield from flush()
        tag = child.tag
        if tag == "blockquote":
            yield Quote(tuple(_blocks(child, users)))
        elif tag in ("ul", "ol"):
            items = tuple(
                tuple(_blocks(item, users))
                for item in child.children
                if isinstance(item, _Element) and item.tag == "li"
            )
            start = child.attrs.get("start", "1")
            number = int(start) if start.isascii() and start.isdigit() else 1
            yield ListBlock(items, ordered=tag == "ol", start=number)
        elif tag == "pre":
            yield _code_block(child)
        elif tag.startswith("h") and tag[1:].isdigit():
            inner = inlines(_inline(child, users))
            para = paragraph([Bold(inner)]) if inner else None
            if para:
                yield para
        elif tag == "hr":
            yield Paragraph((Text("———"),))
        else:
            yield from _blocks(child, users)
    yield from flush()


def parse_html(html: str, users: Callable[[str], str | None]) -> tuple[Block, ...]:
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    return tuple(_blocks(builder.root, users))


def _strip_reply_fallback(body: str) -> str:
    lines = body.split("\n")
    if not lines or not lines[0].startswith("> <"):
        return body
    while lines and lines[0].startswith(">"):
        lines.pop(0)
    return "\n".join(lines).lstrip("\n")


def parse_body(body: str) -> tuple[Block, ...]:
    """A plain `body`: paragraphs at blank lines, line breaks kept, no markup read."""
    blocks: list[Block] = []
    for chunk in re.split(r"\n[ \t]*\n", _strip_reply_fallback(body)):
        run: list[Inline] = []
        for number, line in enumerate(chunk.split("\n")):
            if number:
                run.append(LineBreak())
            run.append(Text(line))
        para = paragraph(run)
        if para:
            blocks.append(para)
    return tuple(blocks)
