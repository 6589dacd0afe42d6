"""A garden worth visiting, captured through the console as people would, and an HTTP
client for it. Shared by the page, crawler and browser tests.

Two communities on one Hearth: the Guild (channel `general`) and the Grove (channel
`grove-backroom-7731`, a name that must never reach the web). Linked, sharing knowledge;
the Grove adopts one of the Guild's public insights. What must never appear publicly:
community-only and constellation-only words, the words of a member who used /forget-me
(and their name), the Grove's channel name.
"""

from __future__ import annotations

import io
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp

from bot.app import Hearth
from tests.harness.console_harness import Step, code, line

WEB = '\n[web]\nlisten = "127.0.0.1:0"\ngarden = true\n'
GROVE = """
[[communities]]
slug = "grove"
name = "The Grove"
description = "Gardeners who compare notes on soil, seeds and patience."
stewards = ["console:gwen"]
[[communities.channels]]
platform = "console"
space = "local"
channel = "grove-backroom-7731"
"""
GUILD_DESCRIPTION = 'description = "Engineers who review each other\'s work."\n'

LONG_WORD = "A" * 3000
HOSTILE = (
    "<script>alert('owned')</script> [click me](javascript:alert(2)) "
    f"{LONG_WORD} مرحبا بالعالم #hostile"
)
SECRET_COMMUNITY = "Unlisted pricing plans stay inside"
SECRET_CONSTELLATION = "Constellation-only lesson about retros"
FORGOTTEN_WORDS = "Zelda's tip on pairing with rubber ducks"
FORGOTTEN_NAME = "zelda"
PRIVATE_CHANNEL = "grove-backroom-7731"
# Semantic search on the web: the question shares no word with either insight, so only
# their meaning finds them; one is public, the other (almost the same words) is not.
DUST_QUESTION = "is sawdust bad for your lungs"
DUST_PUBLIC = "Fine dust from sanding is the real health hazard"
SECRET_SIMILAR = "Fine powder from sanding boards is a hidden health hazard in our workshop"


NEVER_PUBLIC = (
    SECRET_COMMUNITY,
    SECRET_CONSTELLATION,
    FORGOTTEN_WORDS,
    PRIVATE_CHANNEL,
    SECRET_SIMILAR,
)


def captured(out: io.StringIO, text: str) -> str:
    found = re.findall(
        rf"Captured insight #(\d+) from \S+: “{re.escape(text[:20])}", out.getvalue()
    )
    assert found, f"not captured: {text[:40]}"
    return found[-1]


def share(out: io.StringIO, text: str, visibility: str = "public") -> Step:
    return line(lambda: f"/insight share {captured(out, text)} {visibility}")


def garden_steps(out: io.StringIO) -> list[Step]:
    """Everything a visitor may (and may not) see, made through chat."""
    return [
        ":as cora",
        "/insight Small pull requests get better reviews #review #practice",
        share(out, "Small pull requests"),
        "/insight Review checklists catch the boring mistakes so people can discuss design #review",
        share(out, "Review checklists"),
        f"/insight {SECRET_COMMUNITY} #review",
        f"/insight {SECRET_CONSTELLATION} #retro",
        share(out, SECRET_CONSTELLATION, "constellation"),
        f"/insight {HOSTILE}",
        share(out, "<script>alert"),
        f":as {FORGOTTEN_NAME}",
        f"/insight {FORGOTTEN_WORDS} #pairing",
        ":as cora",
        share(out, FORGOTTEN_WORDS),
        # the Grove: linked, sharing knowledge, adopts a public insight of the Guild
        ":as steve",
        "/constellation invite for:grove",
        ":as gwen",
        f":channel {PRIVATE_CHANNEL}",
        line(lambda: f"/constellation accept {code(out)}"),
        "/constellation share guild on",
        "/insight Mulch keeps the soil moist through dry weeks #soil",
        share(out, "Mulch keeps"),
        ":as steve",
        ":channel general",
        "/constellation share grove on",
        ":as gwen",
        f":channel {PRIVATE_CHANNEL}",
        line(lambda: f"/insight adopt {captured(out, 'Small pull requests')} #borrowed"),
        ":as steve",
        ":channel general",
        "/ritual add reflection #general weekly on monday at 9:00",
        "/ritual confirm",
        ":as cora",
    ]


def similar_steps(out: io.StringIO) -> list[Step]:
    """In the Guild: a public insight and a community-only one of nearly the same meaning."""
    return [
        ":as cora",
        ":channel general",
        f"/insight {DUST_PUBLIC} #safety",
        share(out, DUST_PUBLIC),
        f"/insight {SECRET_SIMILAR} #safety",
    ]


def forget_zelda() -> list[Step]:
    return [f":as {FORGOTTEN_NAME}", "/forget-me", "/forget-me confirm", ":as cora"]


@dataclass
class Fetched:
    status: int
    headers: dict[str, str]
    text: str


@dataclass
class Visitor:
    """Fetches pages from the running Hearth's operations server."""

    pages: dict[str, Fetched] = field(default_factory=dict)

    @staticmethod
    def base(hearth: Hearth) -> str:
        assert hearth.ops is not None and hearth.ops.port is not None
        return f"http://127.0.0.1:{hearth.ops.port}"

    @staticmethod
    async def get(
        hearth: Hearth, path: str, headers: dict[str, str] | None = None, method: str = "GET"
    ) -> Fetched:
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                method, Visitor.base(hearth) + path, headers=headers, allow_redirects=False
            ) as response,
        ):
            headers = {
                k.title() if k.lower() != "etag" else "ETag": v for k, v in response.headers.items()
            }
            return Fetched(response.status, headers, await response.text())

    def fetch(self, *paths: str, key: str = "") -> Callable[[Hearth], Awaitable[None]]:
        """A script step: fetch each path and keep it (under `key + path`)."""

        async def step(hearth: Hearth) -> None:
            for path in paths:
                self.pages[key + path] = await Visitor.get(hearth, path)

        return step


# Members: the sign-in link /garden login printed, and posting a form as a browser would
def link_token(out: io.StringIO) -> str:
    return re.findall(r"/login\?token=([A-Za-z0-9_-]+)", out.getvalue())[-1]


async def post(
    hearth: Hearth, path: str, form: dict[str, str], cookie: str = "", origin: str = ""
) -> Fetched:
    headers = {"Cookie": cookie} if cookie else {}
    headers["Origin"] = origin or Visitor.base(hearth)
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            Visitor.base(hearth) + path, data=form, headers=headers, allow_redirects=False
        ) as response,
    ):
        return Fetched(response.status, dict(response.headers), await response.text())


def csrf_of(page: str) -> str:
    return re.findall(r'name="csrf" value="([^"]+)"', page)[0]
