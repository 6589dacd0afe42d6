"""What a signed-in member sees beyond the public garden: their own community's insights,
and what linked communities share with it (consent on both sides of an active link, as
chat's `/search scope:constellation`), never anything else. SQLite and PostgreSQL.

Four communities: the Guild (the member's), the Grove (linked, both sides share), the
Marsh (linked, but the Marsh never switched sharing on) and the Heath (not linked). Each
of the other three has a `constellation` insight about compost; only the Grove's may show.
"""

from __future__ import annotations

import io
from pathlib import Path
from urllib.parse import urlencode

from adapters.local_embeddings import packaged_model
from bot.app import Hearth
from tests.harness.console_harness import Step, code, line, make_config, run_script
from tests.harness.garden_harness import (
    DUST_PUBLIC,
    DUST_QUESTION,
    GROVE,
    GUILD_DESCRIPTION,
    PRIVATE_CHANNEL,
    SECRET_CONSTELLATION,
    SECRET_SIMILAR,
    WEB,
    Fetched,
    Visitor,
    captured,
    garden_steps,
    link_token,
    post,
    share,
    similar_steps,
)

MARSH = """
[[communities]]
slug = "marsh"
name = "The Marsh"
stewards = ["console:mara"]
[[communities.channels]]
platform = "console"
space = "local"
channel = "marsh-hall"

[[communities]]
slug = "heath"
name = "The Heath"
stewards = ["console:hana"]
[[communities.channels]]
platform = "console"
space = "local"
channel = "heath-hut"
"""

GROVE_SHARED = "Turn the compost weekly so the middle heats up"
GROVE_OWN = "Our compost supplier gives the grove a discount"  # community-only
MARSH_SHARED = "Reed beds filter compost runoff before the stream"
HEATH_SHARED = "Heather grows best without compost on poor soil"
NEVER_FOR_THE_GUILD = (GROVE_OWN, MARSH_SHARED, HEATH_SHARED)


def neighbours(out: io.StringIO) -> list[Step]:
    """The Grove shares one insight with the constellation and keeps one; the Marsh links
    with the Guild without sharing knowledge; the Heath is not linked at all."""
    return [
        ":as gwen",
        f":channel {PRIVATE_CHANNEL}",
        f"/insight {GROVE_SHARED} #compost",
        share(out, GROVE_SHARED, "constellation"),
        f"/insight {GROVE_OWN} #compost",
        ":as steve",
        ":channel general",
        "/constellation invite for:marsh",
        ":as mara",
        ":channel marsh-hall",
        line(lambda: f"/constellation accept {code(out)}"),
        f"/insight {MARSH_SHARED} #compost",
        share(out, MARSH_SHARED, "constellation"),
        ":as steve",
        ":channel general",
        "/constellation share marsh on",  # only the Guild's side consents
        ":as hana",
        ":channel heath-hut",
        f"/insight {HEATH_SHARED} #compost",
        share(out, HEATH_SHARED, "constellation"),
    ]


async def test_a_member_sees_what_linked_consenting_communities_share_and_nothing_else(
    database_url: str, tmp_path: Path
) -> None:
    config = make_config(
        database_url, tmp_path, extra=WEB + GROVE + MARSH, community_extra=GUILD_DESCRIPTION
    )
    out = io.StringIO()
    seen: dict[str, Fetched] = {}
    ids: dict[str, str] = {}

    async def look(hearth: Hearth, key: str, cookie: str) -> None:
        headers = {"Cookie": cookie} if cookie else {}
        paths = {
            "guild": "/c/guild/",
            "grove": "/c/grove/",
            "marsh": "/c/marsh/",
            "grove_shared": f"/c/grove/i/{ids['grove_shared']}",
            "grove_own": f"/c/grove/i/{ids['grove_own']}",
            "marsh_shared": f"/c/marsh/i/{ids['marsh_shared']}",
            "heath_shared": f"/c/heath/i/{ids['heath_shared']}",
            "search": "/search?" + urlencode({"q": "compost", "c": "guild"}),
            "search_all": "/search?" + urlencode({"q": "compost"}),
        }
        for name, path in paths.items():
            seen[f"{key}:{name}"] = await Visitor.get(hearth, path, headers)

    async def sign_in(hearth: Hearth) -> None:
        ids.update(
            grove_shared=captured(out, GROVE_SHARED),
            grove_own=captured(out, GROVE_OWN),
            marsh_shared=captured(out, MARSH_SHARED),
            heath_shared=captured(out, HEATH_SHARED),
        )
        signed = await post(hearth, "/login", {"token": link_token(out)})
        ids["cookie"] = signed.headers["Set-Cookie"].split(";")[0]
        await look(hearth, "member", ids["cookie"])
        await look(hearth, "visitor", "")

    async def after_unsharing(hearth: Hearth) -> None:
        await look(hearth, "unshared", ids["cookie"])

    await run_script(
        config,
        [
            *garden_steps(out),
            *neighbours(out),
            ":as alice",
            ":channel general",
            "/garden login",
            sign_in,
            ":as gwen",
            f":channel {PRIVATE_CHANNEL}",
            "/constellation share guild off",  # the Grove withdraws its consent
            after_unsharing,
        ],
        out=out,
    )

    guild = seen["member:guild"].text
    assert "Shared with The Guild by linked communities" in guild and GROVE_SHARED in guild
    assert f'href="/c/grove/i/{ids["grove_shared"]}"' in guild
    assert SECRET_CONSTELLATION in guild  # the member's own, of any visibility
    grove = seen["member:grove"]
    assert grove.status == 200 and "Shared with The Guild by The Grove" in grove.text
    page = seen["member:grove_shared"]
    assert page.status == 200 and GROVE_SHARED in page.text
    assert "Shared with The Guild by The Grove" in page.text
    assert 'action="/c/grove/' not in page.text  # a sibling's insight is read-only here
    assert page.headers["Cache-Control"] == "private, no-store"
    search = seen["member:search"].text
    assert f'href="/c/grove/i/{ids["grove_shared"]}"' in search  # words highlighted
    assert "1 insight match “compost” in The Guild and what linked communities share" in search
    for key in ("grove_own", "marsh_shared", "heath_shared"):
        assert seen[f"member:{key}"].status == 404, key
    assert seen["member:marsh"].status == 404  # publishes nothing, shares nothing with us
    hidden = [ids[k] for k in ("grove_own", "marsh_shared", "heath_shared")]
    for key, fetched in seen.items():
        for secret in NEVER_FOR_THE_GUILD:
            assert secret not in fetched.text, (key, secret)
        for insight_id in hidden:  # nor a link to it (search highlights split the words)
            assert f'/i/{insight_id}"' not in fetched.text, (key, insight_id)
        if key.startswith("visitor:"):  # none of this is public
            assert GROVE_SHARED not in fetched.text and SECRET_CONSTELLATION not in fetched.text
            assert f'/i/{ids["grove_shared"]}"' not in fetched.text, key
    assert seen["visitor:grove_shared"].status == 404
    # consent is read at every request: once the Grove stops sharing, it is gone
    assert seen["unshared:grove_shared"].status == 404
    assert GROVE_SHARED not in seen["unshared:guild"].text
    assert f'href="/c/grove/i/{ids["grove_shared"]}"' not in seen["unshared:search"].text


async def test_web_search_by_meaning_shows_members_their_own_and_visitors_only_public(
    database_url: str, tmp_path: Path
) -> None:
    """The question shares no word with either insight: only their meaning finds them.
    The community-only one is the closer in meaning; a visitor never sees it, a member
    of its community does."""
    config = make_config(database_url, tmp_path, extra=WEB, community_extra=GUILD_DESCRIPTION)
    out = io.StringIO()
    seen: dict[str, Fetched] = {}

    async def search(hearth: Hearth) -> None:
        signed = await post(hearth, "/login", {"token": link_token(out)})
        cookie = {"Cookie": signed.headers["Set-Cookie"].split(";")[0]}
        for c in ("", "guild"):
            path = "/search?" + urlencode({"q": DUST_QUESTION, "c": c})
            seen[f"visitor:{c}"] = await Visitor.get(hearth, path)
            seen[f"member:{c}"] = await Visitor.get(hearth, path, cookie)

    await run_script(
        config,
        [*similar_steps(out), ":as alice", "/garden login", search],
        out=out,
        embedder=packaged_model(),
    )
    for key in ("visitor:", "visitor:guild", "member:"):  # public scopes
        text = seen[key].text
        assert DUST_PUBLIC in text and "≈ similar meaning" in text, key
        assert SECRET_SIMILAR not in text, key
        assert "1 public insight match" in text, key  # counted after filtering, too
    member = seen["member:guild"].text
    assert SECRET_SIMILAR in member and DUST_PUBLIC in member
    assert "2 insights match" in member
