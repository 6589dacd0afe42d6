"""Message text across platforms: one neutral document, imported from and rendered to each.

Why: a relay must carry bold, links and quotes from Discord to Slack to Matrix, and must
never carry a ping. Parsing every dialect into one model (`neutral`) and rendering from it
(`render`) puts that rule in one place: mentions are nodes a renderer can flatten to names,
and every renderer defuses mass mentions in its output, relay or not.
"""

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
)
from bot.text.neutral import Resolver, from_discord, from_matrix_html, from_slack, parse
from bot.text.platforms import matrix_mentions, to_discord, to_matrix, to_slack
from bot.text.render import to_plain, to_terminal, to_words

__all__ = [
    "Block",
    "Bold",
    "ChannelMention",
    "Code",
    "CodeBlock",
    "Document",
    "Inline",
    "Italic",
    "LineBreak",
    "Link",
    "ListBlock",
    "Paragraph",
    "Quote",
    "Resolver",
    "Strike",
    "Text",
    "UserMention",
    "from_discord",
    "from_matrix_html",
    "from_slack",
    "matrix_mentions",
    "parse",
    "to_discord",
    "to_matrix",
    "to_plain",
    "to_slack",
    "to_terminal",
    "to_words",
]
