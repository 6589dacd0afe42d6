"""The last line of defence every renderer applies: mass mentions defused, URLs vetted.

Why on the finished output rather than per text node: a mention can be assembled from
pieces (`@` in one node, `everyone` in the next, or a display name that is literally
`everyone`), so only the final string shows what a platform will see. Mentions a renderer
means to send are held out of this pass as random placeholders (see `render.Held`) and put
back afterwards, so the pass may be blunt: every `@everyone`/`@here`/`@room`/`@channel`
(any case, with or without invisible characters after the `@`) gets a zero-width space
after its `@`, which no platform reads as a mention and a reader does not see.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

import nh3

MASS_WORDS = ("everyone", "here", "room", "channel")
ZWSP = "\u200b"
# Characters that render as nothing; someone hiding one after `@` must not get a pass (and
# our own output should be one canonical form).
INVISIBLE = (
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0"
)
_AT = "@\uff20\ufe6b"  # @, fullwidth @, small @
_WORDS = "|".join(MASS_WORDS)
_MASS = re.compile(rf"([{_AT}])[{INVISIBLE}]*(?=(?:{_WORDS}))", re.IGNORECASE)
_MASS_IN_URL = re.compile(rf"@[{INVISIBLE}]*(?=(?:{_WORDS}))", re.IGNORECASE)
# Discord's ping syntax: users <@1>, <@!1>, roles <@&1>; channels <#1> are not pings but a
# relayed one would point into another server, so it is defused the same way.
_DISCORD_REF = re.compile(r"<(?=[@#][!&]?\d+>)")
SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
_UNSAFE_URL_CHARS = re.compile(r"[\x00-\x20\x7f]")
_BREAKING = frozenset({"Cc", "Zl", "Zp"})


def defuse_mass_mentions(text: str) -> str:
    """`@everyone` → `@\u200beveryone` (and @here, @room, @channel), in any case."""
    return _MASS.sub(lambda m: m.group(1) + ZWSP, text)


def defuse_discord(text: str) -> str:
    """Mass mentions plus raw `<@id>`, `<@&role>` and `<#channel>` syntax."""
    return _DISCORD_REF.sub("<" + ZWSP, defuse_mass_mentions(text))


def safe_url(url: str) -> str | None:
    """The URL if it may become a link (http, https, mailto), else None.

    An `@everyone` inside a URL is percent-encoded (`%40everyone`) so the mention pass need
    not break the link.
    """
    url = url.strip()
    if not url or _UNSAFE_URL_CHARS.search(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in SAFE_SCHEMES:
        return None
    if parts.scheme.lower() != "mailto" and not parts.netloc:
        return None
    return _MASS_IN_URL.sub("%40", url)


def is_matrix_user_link(url: str) -> bool:
    """A matrix.to permalink to a user: a pill in Matrix clients."""
    lowered = url.lower()
    return lowered.startswith("https://matrix.to/#/@") or lowered.startswith(
        "https://matrix.to/#/%40"
    )


def clean_name(name: str, fallback: str) -> str:
    """A display name on one line: whitespace and control characters collapsed."""
    visible = "".join(" " if unicodedata.category(c) in _BREAKING else c for c in name)
    cleaned = " ".join(visible.split())
    return cleaned or fallback


# Matrix's suggested HTML subset (client-server spec, m.room.message msgtype m.text),
# minus <img>: we never emit images, and Matrix only allows mxc:// sources anyway.
MATRIX_TAGS = frozenset(
    {"font", "del", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "p", "a", "ul", "ol"}
    | {"sup", "sub", "li", "b", "i", "u", "strong", "em", "strike", "code", "hr", "br"}
    | {"div", "table", "thead", "tbody", "tr", "th", "td", "caption", "pre", "span"}
    | {"details", "summary"}
)
_MATRIX_ATTRIBUTES = {"a": {"href"}, "ol": {"start"}, "code": {"class"}}
_CODE_CLASS = re.compile(r"^language-[A-Za-z0-9_+#.-]{1,32}$")


def _matrix_attribute(tag: str, attribute: str, value: str) -> str | None:
    if tag == "code" and attribute == "class":
        return value if _CODE_CLASS.match(value) else None
    if tag == "ol" and attribute == "start":
        return value if value.isascii() and value.isdigit() else None
    return value


def sanitize_matrix_html(markup: str) -> str:
    """nh3 with Matrix's tag set; links only http, https and mailto."""
    return nh3.clean(
        markup,
        tags=set(MATRIX_TAGS),
        clean_content_tags={"script", "style"},
        attributes={tag: set(names) for tag, names in _MATRIX_ATTRIBUTES.items()},
        attribute_filter=_matrix_attribute,
        url_schemes={"http", "https", "mailto"},
        link_rel=None,
    )
