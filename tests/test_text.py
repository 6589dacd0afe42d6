"""Neutral message text: parsing, per-platform rendering, and the no-mass-mention rule."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.text import (
    Bold,
    ChannelMention,
    Code,
    CodeBlock,
    Document,
    Italic,
    LineBreak,
    Link,
    ListBlock,
    Paragraph,
    Quote,
    Strike,
    Text,
    UserMention,
    from_discord,
    from_matrix_html,
    from_slack,
    matrix_mentions,
    parse,
    to_discord,
    to_matrix,
    to_plain,
    to_slack,
)

ZWSP = "\u200b"

# ---- what "active" means on each platform -------------------------------------------------

_MASS = re.compile(r"[@＠﹫](everyone|here|room|channel)", re.IGNORECASE)


def active_problems(output: str, platform: str, for_relay: bool) -> list[str]:
    """Everything in `output` that the platform would treat as a (mass or relayed) ping."""
    problems = [m.group() for m in _MASS.finditer(output)]
    if platform == "discord":
        problems += re.findall(r"<@&\d+>", output)
        if for_relay:
            problems += re.findall(r"<@!?\d+>", output)
    if platform == "slack":
        problems += re.findall(r"<!(?:channel|here|everyone|subteam)[^>]*>", output)
        if for_relay:
            problems += re.findall(r"<@[A-Z0-9]+(?:\|[^>]*)?>", output)
    if platform == "matrix" and for_relay:
        problems += re.findall(r"href=\"https://matrix\.to/#/(?:@|%40)", output)
    return problems


def all_outputs(doc: Document, for_relay: bool) -> list[tuple[str, str]]:
    body, formatted = to_matrix(doc, for_relay=for_relay)
    return [
        ("discord", to_discord(doc, for_relay=for_relay)),
        ("slack", to_slack(doc, for_relay=for_relay)),
        ("matrix", body),
        ("matrix", formatted),
        ("plain", to_plain(doc, for_relay=for_relay)),
    ]


def assert_inert(doc: Document) -> None:
    for for_relay in (False, True):
        for platform, output in all_outputs(doc, for_relay):
            assert active_problems(output, platform, for_relay) == [], (platform, output)


# ---- a document using every construct ---------------------------------------------------

RICH = Document(
    (
        Paragraph(
            (
                Text("Hello "),
                Bold((Text("bold"),)),
                Text(" and "),
                Italic((Text("italic"),)),
                Text(", "),
                Strike((Text("gone"),)),
                Text(", "),
                Code("x = 1"),
                Text(" see "),
                Link("https://example.org/a?b=1&c=2", (Text("the docs"),)),
                LineBreak(),
                Text("second line"),
            )
        ),
        Quote((Paragraph((Text("quoted "), Bold((Text("words"),)))),)),
        ListBlock(
            (
                (Paragraph((Text("first"),)),),
                (
                    Paragraph((Text("second"),)),
                    ListBlock(((Paragraph((Text("inner"),)),),), ordered=True, start=3),
                ),
            )
        ),
        CodeBlock("def f():\n    return '<b>' & 1", "python"),
    )
)


def test_neutral_markdown_parses_into_the_model() -> None:
    doc = parse(
        "Hello **bold** and *italic*, ~~gone~~, `x = 1` see "
        "[the docs](https://example.org/a?b=1&c=2)\nsecond line\n\n"
        "> quoted **words**\n\n- first\n- second\n\n  3. inner\n\n"
        "```python\ndef f():\n    return '<b>' & 1\n```"
    )
    assert doc == RICH


def test_discord_round_trip() -> None:
    rendered = to_discord(RICH)
    assert "**bold**" in rendered and "[the docs](https://example.org/a?b=1&c=2)" in rendered
    assert from_discord(rendered) == RICH


def test_slack_round_trip() -> None:
    rendered = to_slack(RICH)
    assert "*bold*" in rendered and "_italic_" in rendered and "~gone~" in rendered
    assert "<https://example.org/a?b=1&amp;c=2|the docs>" in rendered
    assert "&lt;b&gt;" in rendered  # code is escaped too
    # mrkdwn has no code-block language
    expected = Document((*RICH.blocks[:-1], CodeBlock("def f():\n    return '<b>' & 1")))
    assert from_slack(rendered) == expected


def test_matrix_round_trip() -> None:
    body, formatted = to_matrix(RICH)
    assert "<strong>bold</strong>" in formatted
    assert '<a href="https://example.org/a?b=1&amp;c=2">the docs</a>' in formatted
    assert '<code class="language-python">' in formatted
    assert "Hello bold and italic" in body
    assert from_matrix_html(formatted, body) == RICH


def test_plain_rendering_keeps_structure_without_markup() -> None:
    out = to_plain(RICH)
    assert out.startswith("Hello bold and italic, gone, x = 1 see the docs (https://example.org")
    assert "> quoted words" in out and "• first" in out and "  3. inner" in out


@pytest.mark.parametrize(
    ("importer", "source"),
    [
        (from_discord, "**b** *i* ~~s~~ `c` [l](https://a.b/) \n> q\n\n- x\n- y"),
        (from_slack, "*b* _i_ ~s~ `c` <https://a.b/|l>\n&gt; q\n\n• x\n• y"),
        (
            lambda s: from_matrix_html(s, "fallback"),
            "<strong>b</strong> <em>i</em> <del>s</del> <code>c</code> "
            '<a href="https://a.b/">l</a><blockquote>q</blockquote><ul><li>x</li><li>y</li></ul>',
        ),
    ],
)
def test_each_dialect_reads_the_same_formatting(importer, source) -> None:
    doc = importer(source)
    first = doc.blocks[0]
    assert isinstance(first, Paragraph)
    kinds = [type(node) for node in first.children if not isinstance(node, Text | LineBreak)]
    assert kinds == [Bold, Italic, Strike, Code, Link]
    assert any(isinstance(b, Quote) for b in doc.blocks)
    assert any(isinstance(b, ListBlock) and len(b.items) == 2 for b in doc.blocks)


# ---- mentions ---------------------------------------------------------------------------


def names(user_id: str) -> str | None:
    return {"123": "Alice", "U123": "Bob", "@carol:example.org": "Carol"}.get(user_id)


def test_discord_mentions_import() -> None:
    doc = from_discord("hi <@123> <@!123> in <#55> <@&9>", resolve_user=names)
    (para,) = doc.blocks
    assert isinstance(para, Paragraph)
    assert UserMention("discord", "123", "Alice") in para.children
    assert ChannelMention("discord", "55", "55") in para.children
    assert not any("<@&" in t.text for t in para.children if isinstance(t, Text))


def test_slack_mentions_and_links_import() -> None:
    doc = from_slack(
        "hi <@U123> <@U999|dave> <#C1|general> <!channel> <!here|here> "
        "<!subteam^S1|@devs> <https://x.org?a=1&amp;b=2|x &amp; y>",
        resolve_user=names,
    )
    (para,) = doc.blocks
    assert isinstance(para, Paragraph)
    assert UserMention("slack", "U123", "Bob") in para.children
    assert UserMention("slack", "U999", "dave") in para.children
    assert ChannelMention("slack", "C1", "general") in para.children
    assert Link("https://x.org?a=1&b=2", (Text("x & y"),)) in para.children
    texts = "".join(t.text for t in para.children if isinstance(t, Text))
    assert "@channel" in texts and "@here" in texts and "@devs" in texts


def test_matrix_pills_import_and_reply_fallback_is_dropped() -> None:
    html = (
        "<mx-reply><blockquote>old <a href='https://matrix.to/#/@x:y'>X</a></blockquote>"
        "</mx-reply>hey <a href='https://matrix.to/#/%40carol%3Aexample.org'>Caz</a> @room"
    )
    doc = from_matrix_html(html, "ignored", resolve_user=names)
    assert doc == Document(
        (
            Paragraph(
                (
                    Text("hey "),
                    UserMention("matrix", "@carol:example.org", "Carol"),
                    Text(" @room"),
                )
            ),
        )
    )
    plain = from_matrix_html(None, "> <@x:y> old\n\nline one\nline two")
    assert plain == Document((Paragraph((Text("line one"), LineBreak(), Text("line two"))),))


def test_native_mentions_render_only_on_their_own_platform_and_never_for_relays() -> None:
    alice = UserMention("discord", "123", "Alice")
    bob = UserMention("slack", "U123", "Bob")
    carol = UserMention("matrix", "@carol:example.org", "Carol")
    doc = Document((Paragraph((alice, Text(" "), bob, Text(" "), carol)),))

    assert to_discord(doc) == "<@123> @Bob @Carol"
    assert to_slack(doc) == "@Alice <@U123> @Carol"
    body, formatted = to_matrix(doc)
    assert 'href="https://matrix.to/#/@carol:example.org">Carol</a>' in formatted
    assert matrix_mentions(doc) == {"user_ids": ["@carol:example.org"]}

    assert to_discord(doc, for_relay=True) == "@Alice @Bob @Carol"
    assert to_slack(doc, for_relay=True) == "@Alice @Bob @Carol"
    body, formatted = to_matrix(doc, for_relay=True)
    assert body == "@Alice @Bob @Carol" and "<a" not in formatted
    assert matrix_mentions(doc, for_relay=True) == {}


def test_cross_platform_relay_turns_mentions_into_names() -> None:
    discord = from_discord("ping <@123> and <@&77> and @everyone", resolve_user=names)
    assert to_slack(discord, for_relay=True).startswith("ping @Alice and @role and @" + ZWSP)
    slack = from_slack("hey <@U123> <!channel>", resolve_user=names)
    assert to_discord(slack, for_relay=True) == f"hey @Bob @{ZWSP}channel"
    matrix = from_matrix_html('<a href="https://matrix.to/#/@carol:example.org">C</a>', "")
    assert to_discord(matrix, for_relay=True) == "@C"
    assert to_slack(matrix) == "@C"  # not Slack's user, so a name even outside relays


def test_a_matrix_pill_link_is_not_a_pill_in_relayed_matrix_text() -> None:
    doc = parse("[Carol](https://matrix.to/#/@carol:example.org)")
    assert "<a" in to_matrix(doc)[1]
    assert "<a" not in to_matrix(doc, for_relay=True)[1]


def test_display_names_cannot_smuggle_pings() -> None:
    for name in ("everyone", "here", "<@&1>", "<!channel>", "x\n> @room", "**b**"):
        doc = Document((Paragraph((UserMention("other", "1", name),)),))
        assert_inert(doc)
    doc = Document((Paragraph((UserMention("slack", "U1", "<!channel>"),)),))
    assert to_slack(doc, for_relay=True) == "@&lt;!channel&gt;"


# ---- hostile input ----------------------------------------------------------------------

HOSTILE = [
    "@everyone",
    "@here hello",
    "@room",
    "@channel",
    "@EVERYONE and @Here",
    "<!channel>",
    "<!here|here>",
    "<!everyone>",
    "<!subteam^S123|@devs>",
    "<@&123>",
    "<@123>",
    "<@!123>",
    "@\u200beveryone",
    "@\u2060here",
    "@\ufeffroom",
    "＠everyone",
    "&lt;!channel&gt;",
    "@**everyone**",
    "`@everyone`",
    "```\n@here\n```",
    "[@everyone](https://x.org/@everyone)",
    "<@&123><!here>",
    "mail me at bob@here.example",
]


@pytest.mark.parametrize("source", HOSTILE)
def test_no_importer_and_renderer_pair_lets_a_mass_mention_through(source: str) -> None:
    for doc in (
        parse(source),
        from_discord(source),
        from_slack(source),
        from_matrix_html(None, source),
        from_matrix_html(source, source),
    ):
        assert_inert(doc)


def test_mass_mentions_are_defused_outside_relays_too() -> None:
    doc = parse("@everyone @here @room @channel")
    expected = f"@{ZWSP}everyone @{ZWSP}here @{ZWSP}room @{ZWSP}channel"
    assert to_discord(doc) == expected
    assert to_slack(doc) == expected
    assert to_plain(doc) == expected
    assert to_matrix(doc) == (expected, f"<p>{expected}</p>")


def test_zero_width_tricks_come_out_in_one_defused_form() -> None:
    for trick in ("@\u200beveryone", "@\u200d\u200beveryone", "@\u2060everyone"):
        assert to_discord(from_discord(trick)) == f"@{ZWSP}everyone"


def test_links_keep_working_when_they_contain_a_mass_word() -> None:
    doc = parse("[profile](https://x.org/@everyone)")
    assert to_discord(doc) == "[profile](https://x.org/%40everyone)"


@pytest.mark.parametrize(
    "html",
    [
        "<script>alert(1)</script>hi",
        '<img src="x" onerror="alert(1)">hi',
        '<a href="javascript:alert(1)">hi</a>',
        "<iframe src='https://evil.example'></iframe>hi",
        "<b><i>hi</b></i></p></div><blockquote>",
        '<a href="https://ok.example" onclick="alert(1)" style="x">hi</a>',
        '<p style="background:url(javascript:alert(1))">hi</p>',
        "<style>body{}</style><svg onload=alert(1)>hi</svg>",
        '<a href="data:text/html,<script>alert(1)</script>">hi</a>',
        "<pre><code class='language-x\" onmouseover=\"alert(1)'>hi</code></pre>",
    ],
)
def test_matrix_html_injection_is_neutralised(html: str) -> None:
    doc = from_matrix_html(html, "hi")
    body, formatted = to_matrix(doc)
    lowered = formatted.lower()
    for bad in ("<script", "onerror", "onclick", "onload", "javascript:", "<iframe", "<img"):
        assert bad not in lowered
    assert "style=" not in lowered and "data:" not in lowered and "onmouseover" not in lowered
    assert "hi" in formatted and "alert(1)" not in body.replace("alert(1)</script>", "")


def test_matrix_renderer_escapes_text_and_drops_unsafe_links() -> None:
    doc = Document(
        (
            Paragraph(
                (
                    Text("<script>alert(1)</script> & <b>"),
                    Link("javascript:alert(1)", (Text("click"),)),
                    Link("https://ok.example/\"onmouseover='x'", (Text("ok"),)),
                )
            ),
            CodeBlock("</code></pre><script>x</script>", 'x" onclick="y'),
        )
    )
    _, formatted = to_matrix(doc)
    assert "<script" not in formatted and "&lt;script&gt;" in formatted
    assert "javascript" not in formatted and "click" in formatted
    assert "onclick" not in formatted and "onmouseover='x'" not in formatted.split('"')[0]


def test_slack_user_text_is_escaped() -> None:
    doc = parse("a < b && c > d <@U1> <!channel> [x](https://x.org/?a=1&b=2)")
    out = to_slack(doc)
    assert out == (
        "a &lt; b &amp;&amp; c &gt; d &lt;@U1&gt; &lt;!channel&gt; <https://x.org/?a=1&amp;b=2|x>"
    )
    assert from_slack(out) == doc


def test_discord_escapes_markup_in_text() -> None:
    doc = Document((Paragraph((Text("*not bold* _x_ `y` ||spoiler|| [a](b) # h"),)),))
    out = to_discord(doc)
    assert from_discord(out) == doc
    line_start = Document((Paragraph((Text("> not a quote"), LineBreak(), Text("1. not a list"))),))
    assert from_discord(to_discord(line_start)) == line_start


def test_code_cannot_break_out_of_its_fence() -> None:
    doc = Document((CodeBlock("```\n@everyone <@&1>\n```"), Paragraph((Text("after"),))))
    for out in (to_discord(doc), to_slack(doc)):
        assert out.count("```") == 2
    assert_inert(doc)


def test_nested_markdown_abuse_stays_bounded() -> None:
    nested = "> " * 500 + "deep **" * 200 + "[" * 300 + "x" + "](y)" * 300
    for importer in (parse, from_discord, from_slack):
        assert_inert(importer(nested))
    html = "<blockquote>" * 2000 + "@room" + "</blockquote>" * 2000
    assert_inert(from_matrix_html(html, ""))
    assert_inert(from_matrix_html("<b>" * 5000 + "x", ""))


def test_very_long_input_is_handled() -> None:
    """Completes and stays inert; how fast is bench/text_import.py's question."""
    chunks = ["word **bold** <@1> @everyone <", "&amp; ~s~ _i_ ", "<<<<", "*" * 50]
    text = "".join(chunks) * 1500  # ~125 kB, twice the largest platform message
    for doc in (parse(text), from_discord(text), from_slack(text), from_matrix_html(None, text)):
        assert_inert(doc)


def test_rtl_and_emoji_survive_every_platform() -> None:
    words = "שלום עולם مرحبا 👩‍👩‍👧‍👦 🇺🇦 e\u0301"
    doc = Document((Paragraph((Bold((Text(words),)),)),))
    assert from_discord(to_discord(doc)) == doc
    assert from_slack(to_slack(doc)) == doc
    body, formatted = to_matrix(doc)
    assert from_matrix_html(formatted, body) == doc
    assert words in to_plain(doc)
    name = Document((Paragraph((UserMention("x", "1", "👩‍👩‍👧 אבי"),)),))
    assert to_discord(name) == "@👩‍👩‍👧 אבי"


# ---- property: no output is ever an active mass mention ----------------------------------

_PIECES = [
    *"@ ＠ everyone here room channel < > ! & | ^ # * _ ~ ` [ ] ( ) &lt; &gt; @room".split(),  # noqa: SIM905
    *"<!channel> <!here|here> <@&1> <@1> <@U1> subteam^S1 https://x.org/ </a> <b> </b>".split(),  # noqa: SIM905
    *["\u200b", "\u2060", "\n", " ", "> ", "- ", "1. ", "<a href='https://matrix.to/#/@u:s'>"],
]
_pieces = st.sampled_from(_PIECES)
_texts = st.lists(st.one_of(_pieces, st.text(max_size=5)), max_size=30).map("".join)


@settings(max_examples=300, deadline=None)
@given(_texts)
def test_property_no_renderer_ever_emits_an_active_mass_mention(source: str) -> None:
    for doc in (
        parse(source),
        from_discord(source),
        from_slack(source),
        from_matrix_html(source, source),
        from_matrix_html(None, source),
    ):
        assert_inert(doc)


@settings(max_examples=200, deadline=None)
@given(st.text(), st.text())
def test_property_arbitrary_names_and_text_nodes_are_inert(name: str, text: str) -> None:
    doc = Document(
        (
            Paragraph((Text(text), UserMention("elsewhere", "1", name), Text(text))),
            Quote((Paragraph((Bold((Text(text),)), ChannelMention("x", "1", name))),)),
        )
    )
    assert_inert(doc)


def test_matrix_words_are_stored_as_written_and_defused_only_when_shown() -> None:
    from adapters.matrix.content import plain_text

    stored = plain_text(
        {
            "body": "Ping @room about <b>it</b>",
            "format": "org.matrix.custom.html",
            "formatted_body": "Ping @room about <b>it</b>",
        }
    )
    assert stored == "Ping @room about it"
    assert ZWSP not in stored  # exports and searches see what was written
    body, html = to_matrix(parse(stored))
    assert not _MASS.search(body) and not _MASS.search(html)


def test_matrix_permalinks_name_a_server_for_rooms_without_one() -> None:
    from adapters.matrix.content import permalink

    # room version 12: no server in the id, so the link must say where to look
    assert permalink("!Ab3xYz", "$evt_1", "example.org") == (
        "https://matrix.to/#/!Ab3xYz/$evt_1?via=example.org"
    )
    assert permalink("!room:example.org", "$e").endswith("?via=example.org")


def test_a_matrix_room_id_is_never_shown_behind_a_hash() -> None:
    from bot.formatting import channel_label

    assert channel_label("!0TqkJabc:example.org") == "!0TqkJabc:example.org"
    assert channel_label("#practice:example.org") == "#practice:example.org"
    assert channel_label("general") == "#general"


def test_replies_name_commands_with_the_prefix_the_person_types() -> None:
    from bot.commands.prefix import respell

    names = ["search", "relay", "insight", "constellation"]
    text = "Try e.g. /search review, threads relayed with /relay; see https://x.org/search"
    assert respell(text, "!", names) == (
        "Try e.g. !search review, threads relayed with !relay; see https://x.org/search"
    )
    assert respell(text, "/", names) == text
    assert respell("/searching and /relays stay", "!", names) == "/searching and /relays stay"
