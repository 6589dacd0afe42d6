"""Rendering a neutral document: the walker every platform shares, and plain text.

Why one walker with per-platform hooks: the structure (blocks, nesting, list numbering) is
the same everywhere; what differs is escaping, markup and how a mention is written. Every
renderer finishes with `safety`'s pass over the whole output, so a mass mention cannot be
assembled from pieces, and a mention it means to send is held out of that pass as a random
placeholder.

Mentions, `for_relay=False`: a `UserMention` of the target platform becomes a native ping
(`<@id>`, `<@U…>`, a Matrix pill: see platforms.py); one from another platform becomes `@Name` text.
`for_relay=True`: every mention is `@Name` text. Plain `@Name` text pings no one: Discord and
Slack ping only through `<@…>` syntax, which text can never produce (Discord's is defused,
Slack's `<` is escaped); on Matrix, send `m.mentions` (see `matrix_mentions`) so clients do
not fall back to matching display names in the body. The `@` is kept so readers see a
mention; the name itself is escaped text, so a person called `everyone` is defused too.
"""

from __future__ import annotations

import re
import secrets

from bot.text.model import (
    Block,
    Bold,
    ChannelMention,
    Code,
    CodeBlock,
    Document,
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
    plain_text,
)
from bot.text.safety import (
    ZWSP,
    clean_name,
    defuse_mass_mentions,
    safe_url,
)

LANGUAGE = re.compile(r"^[A-Za-z0-9_+#.-]{1,32}$")


class Renderer:
    """Markdown-like output; subclasses set the markup and escaping of one dialect."""

    platform = "plain"
    bullet = "• "
    bold = strike = italic = ""

    def __init__(self, for_relay: bool) -> None:
        self.for_relay = for_relay
        self._nonce = secrets.token_hex(8)
        self._held: dict[str, str] = {}

    # -- the public entry --------------------------------------------------------------------

    def render(self, doc: Document) -> str:
        return self.finish(self.blocks(doc.blocks))

    def hold(self, active: str) -> str:
        """Keep output that is meant to be live (a native mention) out of the defusing pass."""
        key = f"\ue000{self._nonce}{len(self._held)}\ue001"
        self._held[key] = active
        return key

    def defuse(self, out: str) -> str:
        return defuse_mass_mentions(out)

    def finish(self, out: str) -> str:
        out = self.defuse(out)
        for key, active in self._held.items():
            out = out.replace(key, active)
        return out

    # -- blocks ---------------------------------------------------------------------------

    def blocks(self, blocks: tuple[Block, ...], in_item: bool = False) -> str:
        """Blocks a blank line apart; a list nested in an item follows its text directly."""
        parts: list[str] = []
        for block in blocks:
            if parts:
                parts.append("\n" if in_item and _interrupts(block) else "\n\n")
            parts.append(self.block(block))
        return "".join(parts)

    def block(self, block: Block) -> str:
        if isinstance(block, Paragraph):
            return self.paragraph(block)
        if isinstance(block, Quote):
            return self.quote(block)
        if isinstance(block, ListBlock):
            return self.list_block(block)
        return self.code_block(block)

    def paragraph(self, para: Paragraph) -> str:
        return self.run(para.children)

    def quote(self, quote: Quote) -> str:
        inner = self.blocks(quote.blocks)
        return "\n".join("> " + line if line else ">" for line in inner.split("\n"))

    def list_block(self, block: ListBlock) -> str:
        items: list[str] = []
        for number, item in enumerate(block.items, start=block.start):
            marker = f"{number}. " if block.ordered else self.bullet
            pad = " " * len(marker)
            lines = self.blocks(item, in_item=True).split("\n")
            rest = "".join("\n" + (pad + line if line else "") for line in lines[1:])
            items.append(marker + lines[0] + rest)
        return "\n".join(items)

    def code_block(self, block: CodeBlock) -> str:
        return "\n".join("    " + line for line in block.text.split("\n"))

    # -- inlines --------------------------------------------------------------------------

    def run(self, nodes: tuple[Inline, ...]) -> str:
        return "".join(self.inline(node) for node in nodes)

    def inline(self, node: Inline) -> str:
        if isinstance(node, Text):
            return self.text(node.text)
        if isinstance(node, LineBreak):
            return "\n"
        if isinstance(node, Bold):
            return self.wrap(self.bold, node.children)
        if isinstance(node, Italic):
            return self.wrap(self.italic, node.children)
        if isinstance(node, Strike):
            return self.wrap(self.strike, node.children)
        if isinstance(node, Code):
            return self.code(node.text)
        if isinstance(node, Link):
            url = safe_url(node.url)
            return self.link(url, node) if url else self.run(node.children)
        if isinstance(node, UserMention):
            name = clean_name(node.display_name, node.user_id)
            if not self.for_relay and node.platform == self.platform:
                # held out of the final pass, so the name is defused here
                return self.hold(self.native_user(node, defuse_mass_mentions(name)))
            return self.text("@" + name)
        name = clean_name(node.name, node.channel_id)
        if not self.for_relay and node.platform == self.platform:
            return self.hold(self.native_channel(node, name))
        return self.text("#" + name)

    def wrap(self, marker: str, children: tuple[Inline, ...]) -> str:
        """Markup around the words, spaces outside it (`** x**` is not bold anywhere)."""
        inner = self.run(children)
        core = inner.strip(" ")
        if not marker or not core:
            return inner
        lead = inner[: len(inner) - len(inner.lstrip(" "))]
        trail = inner[len(inner.rstrip(" ")) :]
        return f"{lead}{marker}{core}{marker}{trail}"

    def text(self, text: str) -> str:
        return text

    def code(self, text: str) -> str:
        return text

    def link(self, url: str, node: Link) -> str:
        label = plain_text(node.children)
        return url if label in (url, node.url) else f"{self.run(node.children)} ({url})"

    def native_user(self, mention: UserMention, name: str) -> str:
        return "@" + name

    def native_channel(self, mention: ChannelMention, name: str) -> str:
        return "#" + name


def ascii_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _interrupts(block: Block) -> bool:
    """Whether a list may start right under a line of text (CommonMark: not `3.`)."""
    return isinstance(block, ListBlock) and (not block.ordered or block.start == 1)


def backtick_fence(text: str) -> str:
    """CommonMark inline code: a backtick run longer than any inside, padded if needed."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def fenced(text: str, language: str) -> str:
    """A ``` block whose content cannot close it early."""
    body = text.replace("```", "`" + ZWSP + "``")
    info = language if LANGUAGE.match(language) else ""
    return f"```{info}\n{body}\n```"


def to_plain(doc: Document, *, for_relay: bool = False) -> str:
    """Plain text for the console (and logs): structure kept, no markup."""
    return Renderer(for_relay).render(doc)


class _Words(Renderer):
    def defuse(self, out: str) -> str:
        return out  # kept as written: every renderer defuses when the words are shown


def to_words(doc: Document) -> str:
    """A message's words as its author wrote them, for storing (an insight's text, a
    relay's source): no markup, and no defusing, so exports and searches see `@room`."""
    return _Words(False).render(doc)


class _Terminal(Renderer):
    """Plain text with highlights as terminal styles (ANSI SGR), and no control characters
    from the text itself, so a message cannot restyle or move the cursor of the terminal."""

    bold, italic, strike = "**", "_", "~"  # keys of _SGR: on, off

    def wrap(self, marker: str, children: tuple[Inline, ...]) -> str:
        start, end = _SGR[marker]
        inner = self.run(children)
        core = inner.strip(" ")
        if not core:
            return inner
        lead = inner[: len(inner) - len(inner.lstrip(" "))]
        trail = inner[len(inner.rstrip(" ")) :]
        return f"{lead}{start}{core}{end}{trail}"

    def text(self, text: str) -> str:
        return _CONTROL.sub("", text)

    def code(self, text: str) -> str:
        return _CONTROL.sub("", text)


_SGR = {"**": ("\x1b[1m", "\x1b[22m"), "_": ("\x1b[3m", "\x1b[23m"), "~": ("\x1b[9m", "\x1b[29m")}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def to_terminal(doc: Document, *, styled: bool) -> str:
    """The console's view: bold, italic and struck text styled on a terminal (`styled`),
    else exactly `to_plain`; never literal `**` markup."""
    return _Terminal(False).render(doc) if styled else to_plain(doc)
