"""Rendering a neutral document for each platform: Discord, Slack, Matrix and plain text.

Why one walker with per-platform hooks: the structure (blocks, nesting, list numbering) is
the same everywhere; what differs is escaping, markup and how a mention is written. Every
renderer finishes with `safety`'s pass over the whole output, so a mass mention cannot be
assembled from pieces, and a mention it means to send is held out of that pass as a random
placeholder.

Mentions, `for_relay=False`: a `UserMention` of the target platform becomes a native ping
(`<@id>`, `<@U…>`, a Matrix pill); one from another platform becomes `@Name` text.
`for_relay=True`: every mention is `@Name` text. Plain `@Name` text pings no one: Discord and
Slack ping only through `<@…>` syntax, which text can never produce (Discord's is defused,
Slack's `<` is escaped); on Matrix, send `m.mentions` (see `matrix_mentions`) so clients do
not fall back to matching display names in the body. The `@` is kept so readers see a
mention; the name itself is escaped text, so a person called `everyone` is defused too.
"""

from __future__ import annotations

import html
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
    defuse_discord,
    defuse_mass_mentions,
    is_matrix_user_link,
    safe_url,
    sanitize_matrix_html,
)

_LANGUAGE = re.compile(r"^[A-Za-z0-9_+#.-]{1,32}$")


class _Renderer:
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


def _ascii_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _interrupts(block: Block) -> bool:
    """Whether a list may start right under a line of text (CommonMark: not `3.`)."""
    return isinstance(block, ListBlock) and (not block.ordered or block.start == 1)


def _backtick_fence(text: str) -> str:
    """CommonMark inline code: a backtick run longer than any inside, padded if needed."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _fenced(text: str, language: str) -> str:
    """A ``` block whose content cannot close it early."""
    body = text.replace("```", "`" + ZWSP + "``")
    info = language if _LANGUAGE.match(language) else ""
    return f"```{info}\n{body}\n```"


class _Discord(_Renderer):
    platform = "discord"
    bullet = "- "
    bold, italic, strike = "**", "*", "~~"
    _SPECIAL = re.compile(r"([\\*_~`|\[\]<])")
    _URL = re.compile(r"https?://[^\s<>]+")
    _LINE_START = re.compile(r"^(\s*)([>#+-]|\d+[.)])", re.MULTILINE)

    def defuse(self, out: str) -> str:
        return defuse_discord(out)

    def paragraph(self, para: Paragraph) -> str:
        # Text that would start a quote, heading or list at the start of a line is escaped.
        return self._LINE_START.sub(
            lambda m: m.group(1) + re.sub(r"([>#+.)-])", r"\\\1", m.group(2), count=1),
            self.run(para.children),
        )

    def text(self, text: str) -> str:
        # Bare URLs are left alone: Discord links them before reading escapes.
        out, last = [], 0
        for found in self._URL.finditer(text):
            out.append(self._SPECIAL.sub(r"\\\1", text[last : found.start()]))
            out.append(found.group())
            last = found.end()
        out.append(self._SPECIAL.sub(r"\\\1", text[last:]))
        return "".join(out)

    def code(self, text: str) -> str:
        return _backtick_fence(text) if text else ""

    def code_block(self, block: CodeBlock) -> str:
        return _fenced(block.text, block.language)

    def link(self, url: str, node: Link) -> str:
        label = self.run(node.children)
        if plain_text(node.children) in (url, node.url):
            return url
        target = url.replace("(", "%28").replace(")", "%29").replace(" ", "%20")
        return f"[{label}]({target})"

    def native_user(self, mention: UserMention, name: str) -> str:
        return f"<@{mention.user_id}>" if _ascii_digits(mention.user_id) else self.text("@" + name)

    def native_channel(self, mention: ChannelMention, name: str) -> str:
        channel = mention.channel_id
        return f"<#{channel}>" if _ascii_digits(channel) else self.text("#" + name)


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class _Slack(_Renderer):
    """mrkdwn: `*bold*`, `_italic_`, `~strike~`; `& < >` are the only escapes it has."""

    platform = "slack"
    bold, italic, strike = "*", "_", "~"
    _ID = re.compile(r"^[A-Z0-9]+$")

    def text(self, text: str) -> str:
        return _slack_escape(text)

    def code(self, text: str) -> str:
        # mrkdwn code spans cannot hold a backtick; a look-alike keeps the span intact.
        return f"`{_slack_escape(text.replace('`', 'ˋ'))}`" if text else ""

    def code_block(self, block: CodeBlock) -> str:
        return _fenced(_slack_escape(block.text), "")

    def link(self, url: str, node: Link) -> str:
        label = plain_text(node.children)
        target = _slack_escape(url).replace("|", "%7C")
        if label in (url, node.url):
            return f"<{target}>"
        return f"<{target}|{_slack_escape(label)}>"

    def native_user(self, mention: UserMention, name: str) -> str:
        return f"<@{mention.user_id}>" if self._ID.match(mention.user_id) else self.text("@" + name)

    def native_channel(self, mention: ChannelMention, name: str) -> str:
        channel = mention.channel_id
        return f"<#{channel}>" if self._ID.match(channel) else self.text("#" + name)


class _MatrixHtml(_Renderer):
    """`formatted_body`: HTML built from the model, escaped as it is built, then nh3."""

    platform = "matrix"

    def render(self, doc: Document) -> str:
        markup = "".join(self.block(block) for block in doc.blocks)
        return self.finish(sanitize_matrix_html(markup))

    def paragraph(self, para: Paragraph) -> str:
        return f"<p>{self.run(para.children)}</p>"

    def quote(self, quote: Quote) -> str:
        return "<blockquote>" + "".join(self.block(b) for b in quote.blocks) + "</blockquote>"

    def list_block(self, block: ListBlock) -> str:
        items = "".join(f"<li>{self._item(item)}</li>" for item in block.items)
        if not block.ordered:
            return f"<ul>{items}</ul>"
        start = f' start="{block.start}"' if block.start != 1 else ""
        return f"<ol{start}>{items}</ol>"

    def _item(self, item: tuple[Block, ...]) -> str:
        if len(item) == 1 and isinstance(item[0], Paragraph):
            return self.run(item[0].children)  # a tight item, as Matrix clients send it
        return "".join(self.block(b) for b in item)

    def code_block(self, block: CodeBlock) -> str:
        language = block.language if _LANGUAGE.match(block.language) else ""
        attribute = f' class="language-{html.escape(language)}"' if language else ""
        return f"<pre><code{attribute}>{html.escape(block.text)}\n</code></pre>"

    def inline(self, node: Inline) -> str:
        if isinstance(node, LineBreak):
            return "<br>"
        if isinstance(node, Bold):
            return f"<strong>{self.run(node.children)}</strong>"
        if isinstance(node, Italic):
            return f"<em>{self.run(node.children)}</em>"
        if isinstance(node, Strike):
            return f"<del>{self.run(node.children)}</del>"
        return super().inline(node)

    def text(self, text: str) -> str:
        return html.escape(text, quote=False)

    def code(self, text: str) -> str:
        return f"<code>{html.escape(text, quote=False)}</code>"

    def link(self, url: str, node: Link) -> str:
        if self.for_relay and is_matrix_user_link(url):
            return self.run(node.children)  # no pills in relayed text
        return f'<a href="{html.escape(url)}">{self.run(node.children)}</a>'

    def native_user(self, mention: UserMention, name: str) -> str:
        target = safe_url("https://matrix.to/#/" + mention.user_id) or ""
        return f'<a href="{html.escape(target)}">{html.escape(name, quote=False)}</a>'

    def native_channel(self, mention: ChannelMention, name: str) -> str:
        if not mention.channel_id.startswith(("#", "!")):
            return self.text("#" + name)
        target = safe_url("https://matrix.to/#/" + mention.channel_id) or ""
        return f'<a href="{html.escape(target)}">#{html.escape(name, quote=False)}</a>'

    def hold(self, active: str) -> str:
        return active  # built escaped, and nh3 must see it too


class _MatrixBody(_Renderer):
    platform = "matrix"

    def code_block(self, block: CodeBlock) -> str:
        return f"```{block.language}\n{block.text}\n```"

    def native_user(self, mention: UserMention, name: str) -> str:
        # The pill's text, as Matrix clients write the body, behind a zero-width space: a
        # mention is held out of the mass-mention pass, so "@" + a user named "room" must
        # not be able to join into "@room".
        return "\u200b" + name


def to_discord(doc: Document, *, for_relay: bool = False) -> str:
    return _Discord(for_relay).render(doc)


def to_slack(doc: Document, *, for_relay: bool = False) -> str:
    return _Slack(for_relay).render(doc)


def to_matrix(doc: Document, *, for_relay: bool = False) -> tuple[str, str]:
    """`(body, formatted_body)` for an `m.room.message` with `format: org.matrix.custom.html`."""
    return _MatrixBody(for_relay).render(doc), _MatrixHtml(for_relay).render(doc)


def to_plain(doc: Document, *, for_relay: bool = False) -> str:
    """Plain text for the console (and logs): structure kept, no markup."""
    return _Renderer(for_relay).render(doc)


class _Words(_Renderer):
    def defuse(self, out: str) -> str:
        return out  # kept as written: every renderer defuses when the words are shown


def to_words(doc: Document) -> str:
    """A message's words as its author wrote them, for storing (an insight's text, a
    relay's source): no markup, and no defusing, so exports and searches see `@room`."""
    return _Words(False).render(doc)


class _Terminal(_Renderer):
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


def matrix_mentions(doc: Document, *, for_relay: bool = False) -> dict[str, list[str]]:
    """The event's `m.mentions`: the Matrix users pinged on purpose, never the room.

    Sending it (even empty) tells clients not to guess pings from display names in `body`.
    """
    users = set() if for_relay else _matrix_users(doc.blocks)
    return {"user_ids": sorted(users)} if users else {}


def _matrix_users(blocks: tuple[Block, ...]) -> set[str]:
    found: set[str] = set()

    def walk(nodes: tuple[Inline, ...]) -> None:
        for node in nodes:
            if isinstance(node, UserMention) and node.platform == "matrix":
                found.add(node.user_id)
            elif isinstance(node, Bold | Italic | Strike | Link):
                walk(node.children)

    for block in blocks:
        if isinstance(block, Paragraph):
            walk(block.children)
        elif isinstance(block, Quote):
            found |= _matrix_users(block.blocks)
        elif isinstance(block, ListBlock):
            for item in block.items:
                found |= _matrix_users(item)
    return found
