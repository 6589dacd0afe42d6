"""The chat platforms' dialects of a neutral document: Discord and Slack markdown, Matrix
HTML with its plain body, and the Matrix `m.mentions` to send beside them. The shared
walker, and why mentions are written as they are, are in render.py."""

from __future__ import annotations

import html
import re

from bot.text.model import (
    Block,
    Bold,
    ChannelMention,
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
    UserMention,
    plain_text,
)
from bot.text.render import LANGUAGE, Renderer, ascii_digits, backtick_fence, fenced
from bot.text.safety import (
    defuse_discord,
    is_matrix_user_link,
    safe_url,
    sanitize_matrix_html,
)


class _Discord(Renderer):
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
        return backtick_fence(text) if text else ""

    def code_block(self, block: CodeBlock) -> str:
        return fenced(block.text, block.language)

    def link(self, url: str, node: Link) -> str:
        label = self.run(node.children)
        if plain_text(node.children) in (url, node.url):
            return url
        target = url.replace("(", "%28").replace(")", "%29").replace(" ", "%20")
        return f"[{label}]({target})"

    def native_user(self, mention: UserMention, name: str) -> str:
        return f"<@{mention.user_id}>" if ascii_digits(mention.user_id) else self.text("@" + name)

    def native_channel(self, mention: ChannelMention, name: str) -> str:
        channel = mention.channel_id
        return f"<#{channel}>" if ascii_digits(channel) else self.text("#" + name)


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class _Slack(Renderer):
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
        return fenced(_slack_escape(block.text), "")

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


class _MatrixHtml(Renderer):
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
        language = block.language if LANGUAGE.match(block.language) else ""
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


class _MatrixBody(Renderer):
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
