"""Parsing into the neutral document: Hearth's Markdown subset and each platform's syntax.

Why markdown-it-py for all three text dialects: Discord markdown and Slack mrkdwn are close
enough to CommonMark that one maintained parser, with a few rules switched off and two small
inline rules added (angle-bracket references, Slack's single-tilde strike), reads them
faithfully; hand-written regex parsers are where escaping bugs live. Matrix sends HTML, which
`bot.text.matrix_html` reads with the standard library's HTML parser.

Mass mentions (`@everyone`, `<!channel>`, role pings) are imported as plain `Text`: the model
has no node for them, so no renderer can ever emit one on purpose, and every renderer
defuses their text form on the way out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from functools import cache
from typing import TYPE_CHECKING

from bot.text import matrix_html
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
    inlines,
    paragraph,
)

if TYPE_CHECKING:  # markdown-it (63 modules) loads with the first parse, not at start-up
    from markdown_it import MarkdownIt
    from markdown_it.rules_inline import StateInline
    from markdown_it.tree import SyntaxTreeNode

Resolver = Callable[[str], str | None]
"""Looks up a display name by platform id; None when unknown (the importer then falls back)."""

# An angle-bracket reference is short; bounding the search keeps `<<<<…` linear.
_MAX_REF = 512
_RULE_NAME = "hearth_ref"


def _no_names(_: str) -> str | None:
    return None


Classify = Callable[[str, Mapping[str, Resolver]], Inline | None]


def _angle_rule(classify: Classify) -> Callable[[StateInline, bool], bool]:
    """A markdown-it inline rule turning `<…>` platform references into model nodes.

    The resolvers travel in markdown-it's `env`, so each dialect's parser is built once.
    """

    def rule(state: StateInline, silent: bool) -> bool:
        pos = state.pos
        if state.src[pos] != "<":
            return False
        end = state.src.find(">", pos + 1, min(state.posMax, pos + _MAX_REF))
        if end < 0:
            return False
        inner = state.src[pos + 1 : end]
        if "\n" in inner or "<" in inner:
            return False
        node = classify(inner, state.env)
        if node is None:
            return False
        if not silent:
            token = state.push(_RULE_NAME, "", 0)
            token.meta = {"node": node}
        state.pos = end + 1
        return True

    return rule


def _slack_strike(state: StateInline, silent: bool) -> bool:
    """Slack's `~struck~` (one tilde); `~~x~~` is left to markdown-it's own rule."""
    start, src = state.pos, state.src
    if src[start] != "~" or start + 1 >= state.posMax or src[start + 1] in " ~\n":
        return False
    end = src.find("~", start + 2, state.posMax)
    if end < 0 or "\n" in src[start:end] or src[end - 1] == " ":
        return False
    if not silent:
        old_max = state.posMax
        state.pos, state.posMax = start + 1, end
        state.push("s_open", "s", 1)
        state.md.inline.tokenize(state)
        state.push("s_close", "s", -1)
        state.posMax = old_max
    state.pos = end + 1
    return True


def _parser(off: list[str]) -> MarkdownIt:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False}).enable("strikethrough")
    if off:
        md.disable(off)
    return md


@cache
def _neutral_parser() -> MarkdownIt:
    return _parser(["html_block", "html_inline", "reference"])


# ---- conversion of markdown-it's syntax tree --------------------------------------------


def _inline_nodes(node: SyntaxTreeNode, slack: bool) -> Iterator[Inline]:
    for child in node.children:
        kind = child.type
        if kind == "text" or kind == "html_inline":
            yield Text(child.content)
        elif kind in ("softbreak", "hardbreak"):
            yield LineBreak()
        elif kind == "code_inline":
            yield Code(_slack_unescape(child.content) if slack else child.content)
        elif kind == "strong":
            yield Bold(inlines(_inline_nodes(child, slack)))
        elif kind == "em":
            # Slack's `*x*` is bold; markdown-it calls every single-delimiter run "em".
            wrap = Bold if slack and child.markup == "*" else Italic
            yield wrap(inlines(_inline_nodes(child, slack)))
        elif kind == "s":
            yield Strike(inlines(_inline_nodes(child, slack)))
        elif kind in ("link", "image"):
            href = str(child.attrs.get("href") or child.attrs.get("src") or "")
            label = inlines(_inline_nodes(child, slack)) or (Text(href),)
            yield Link(href, label)
        elif kind == _RULE_NAME:
            yield child.meta["node"]
        else:
            yield from _inline_nodes(child, slack)


def _blocks(node: SyntaxTreeNode, slack: bool) -> Iterator[Block]:
    for child in node.children:
        kind = child.type
        if kind == "paragraph":
            para = paragraph(_inline_nodes(child.children[0], slack))
            if para:
                yield para
        elif kind == "heading":
            inner = inlines(_inline_nodes(child.children[0], slack))
            if inner:
                yield Paragraph((Bold(inner),))
        elif kind == "blockquote":
            yield Quote(tuple(_blocks(child, slack)))
        elif kind in ("bullet_list", "ordered_list"):
            items = tuple(tuple(_blocks(item, slack)) for item in child.children)
            start = int(str(child.attrs.get("start", 1)))
            yield ListBlock(items, ordered=kind == "ordered_list", start=start)
        elif kind in ("fence", "code_block"):
            language = child.info.split()[0] if child.info.strip() else ""
            content = child.content.removesuffix("\n")
            yield CodeBlock(_slack_unescape(content) if slack else content, language)
        elif kind == "hr":
            yield Paragraph((Text("———"),))


def _document(
    md: MarkdownIt, text: str, slack: bool = False, env: dict[str, Resolver] | None = None
) -> Document:
    from markdown_it.tree import SyntaxTreeNode

    tree = SyntaxTreeNode(md.parse(text, env or {}))
    return Document(tuple(_blocks(tree, slack)))


def parse(text: str) -> Document:
    """Hearth's neutral Markdown subset (what handlers write) as a document.

    Raw HTML and `<@…>`-style platform syntax are plain text here: neutral text has no
    mention syntax, mentions enter only through the platform importers.
    """
    return _document(_neutral_parser(), text)


# ---- Discord ------------------------------------------------------------------------------


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _discord_ref(inner: str, env: Mapping[str, Resolver]) -> Inline | None:
    users, channels = env.get("user", _no_names), env.get("channel", _no_names)
    roles = env.get("role", _no_names)
    if inner.startswith("@&") and _digits(inner[2:]):
        return Text("@" + (roles(inner[2:]) or "role"))
    if inner.startswith("@!") and _digits(inner[2:]):
        inner = "@" + inner[2:]
    if inner.startswith("@") and _digits(inner[1:]):
        uid = inner[1:]
        return UserMention("discord", uid, users(uid) or uid)
    if inner.startswith("#") and _digits(inner[1:]):
        cid = inner[1:]
        return ChannelMention("discord", cid, channels(cid) or cid)
    parts = inner.split(":")
    if len(parts) == 3 and parts[0] in ("", "a") and _digits(parts[2]):
        return Text(f":{parts[1]}:")  # custom emoji
    if inner.startswith("/") and len(parts) == 2 and _digits(parts[1]):
        return Text(parts[0])  # slash-command mention
    return None


def from_discord(
    text: str,
    *,
    resolve_user: Resolver | None = None,
    resolve_channel: Resolver | None = None,
    resolve_role: Resolver | None = None,
) -> Document:
    """A Discord message's content. `__x__` (underline) is read as bold; `||x||` stays text."""
    env = _env(user=resolve_user, channel=resolve_channel, role=resolve_role)
    return _document(_discord_parser(), text, env=env)


@cache
def _discord_parser() -> MarkdownIt:
    """Discord shows `&amp;` as typed, so entities are not decoded either."""
    md = _parser(["html_block", "html_inline", "reference", "code", "lheading", "hr", "entity"])
    md.inline.ruler.before("autolink", _RULE_NAME, _angle_rule(_discord_ref))
    return md


def _env(**resolvers: Resolver | None) -> dict[str, Resolver]:
    return {key: value for key, value in resolvers.items() if value is not None}


# ---- Slack --------------------------------------------------------------------------------


def _slack_unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _slack_ref(inner: str, env: Mapping[str, Resolver]) -> Inline | None:
    users, channels = env.get("user", _no_names), env.get("channel", _no_names)
    target, _, label = inner.partition("|")
    label = _slack_unescape(label)
    if target.startswith("@") and len(target) > 1:
        uid = target[1:]
        return UserMention("slack", uid, users(uid) or label or uid)
    if target.startswith("#") and len(target) > 1:
        cid = target[1:]
        return ChannelMention("slack", cid, channels(cid) or label or cid)
    if target.startswith("!"):
        command = target[1:]
        if command.startswith("date^"):
            return Text(label)
        if command.startswith("subteam^"):  # a user-group ping: only ever its name
            return Text(label if label.startswith("@") else "@" + (label or "group"))
        return Text("@" + command)  # channel / here / everyone: defused when rendered
    scheme = target.split(":", 1)[0]
    if ":" in target and scheme.isascii() and scheme.replace("+", "").isalnum():
        url = _slack_unescape(target)
        return Link(url, (Text(label or url),))
    return None


_SLACK_BULLETS = ("• ", "◦ ", "▪ ", "▫ ")


def _slack_lines(mrkdwn: str) -> str:
    """Line starts Slack writes its own way: `• item` lists and `&gt; ` quotes."""
    lines = []
    for line in mrkdwn.split("\n"):
        body = line.lstrip(" ")
        indent = line[: len(line) - len(body)]
        if body.startswith(_SLACK_BULLETS):
            line = indent + "- " + body[2:]
        while body.startswith("&gt;"):
            body = body.removeprefix("&gt;")
            indent += ">"
            line = indent + body
        lines.append(line)
    return "\n".join(lines)


def from_slack(
    mrkdwn: str,
    *,
    resolve_user: Resolver | None = None,
    resolve_channel: Resolver | None = None,
) -> Document:
    """A Slack message's `text` (mrkdwn, with `&lt;` `&gt;` `&amp;` escapes)."""
    env = _env(user=resolve_user, channel=resolve_channel)
    return _document(_slack_parser(), _slack_lines(mrkdwn), slack=True, env=env)


@cache
def _slack_parser() -> MarkdownIt:
    """mrkdwn has no headings, rules, Markdown links or backslash escapes: those stay text."""
    off = ["html_block", "html_inline", "reference", "code", "lheading", "hr", "heading"]
    md = _parser([*off, "link", "image", "autolink", "escape"])
    md.inline.ruler.before("autolink", _RULE_NAME, _angle_rule(_slack_ref))
    md.inline.ruler.before("strikethrough", "slack_strike", _slack_strike)
    return md


# ---- Matrix -------------------------------------------------------------------------------


def from_matrix_html(
    html: str | None,
    body: str,
    *,
    resolve_user: Resolver | None = None,
) -> Document:
    """A Matrix `m.room.message`: its `formatted_body` when there is one, else its `body`.

    Pills (`https://matrix.to/#/@user:server`) become mentions; the reply fallback
    (`<mx-reply>`, or `> <@user> …` lines atop a plain body) is dropped.
    """
    if html and html.strip():
        return Document(matrix_html.parse_html(html, resolve_user or _no_names))
    return Document(matrix_html.parse_body(body))
