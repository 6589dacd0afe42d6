"""Members on the garden: `/garden login` in chat, the one-time link, the session cookie,
CSRF, and a curator's edit that chat's /search then finds. SQLite and PostgreSQL."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.app import Hearth
from knowledge.clock import ManualClock
from tests.harness.console_harness import Step, make_config, run_script
from tests.harness.garden_harness import (
    GROVE,
    GUILD_DESCRIPTION,
    SECRET_COMMUNITY,
    SECRET_CONSTELLATION,
    WEB,
    Fetched,
    Visitor,
    captured,
    csrf_of,
    forget_zelda,
    garden_steps,
    link_token,
    post,
)

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


async def test_a_one_time_link_signs_a_curator_in_whose_edit_chat_then_finds(
    database_url: str, tmp_path: Path
) -> None:
    clock = ManualClock(START)
    config = make_config(
        database_url, tmp_path, extra=WEB + GROVE, community_extra=GUILD_DESCRIPTION
    )
    out = io.StringIO()
    seen: dict[str, Fetched] = {}
    state: dict[str, str] = {}

    async def sign_in(hearth: Hearth) -> None:
        token = link_token(out)
        seen["offer"] = await Visitor.get(hearth, f"/login?token={token}")
        seen["signed"] = await post(hearth, "/login", {"token": token})
        seen["again"] = await post(hearth, "/login", {"token": token})  # only once
        seen["offer_again"] = await Visitor.get(hearth, f"/login?token={token}")
        cookie = seen["signed"].headers["Set-Cookie"]
        state["cookie"] = cookie.split(";")[0]
        state["secret"] = captured(out, SECRET_COMMUNITY)
        state["constellation"] = captured(out, SECRET_CONSTELLATION)

    async def edit(hearth: Hearth) -> None:
        cookie, secret = state["cookie"], state["secret"]
        page = await Visitor.get(hearth, f"/c/guild/i/{secret}", {"Cookie": cookie})
        seen["member_view"] = page
        seen["public_view"] = await Visitor.get(hearth, f"/c/guild/i/{secret}")
        form = {
            "csrf": csrf_of(page.text),
            "body": "Unlisted pricing plans are fine to publish once the garden launches",
            "tags": "#review #launch",
            "visibility": "public",
        }
        seen["no_csrf"] = await post(
            hearth, f"/c/guild/i/{secret}/edit", {**form, "csrf": "x"}, cookie
        )
        seen["cross_site"] = await post(
            hearth, f"/c/guild/i/{secret}/edit", form, cookie, origin="https://evil.example"
        )
        seen["edited"] = await post(hearth, f"/c/guild/i/{secret}/edit", form, cookie)
        seen["now_public"] = await Visitor.get(hearth, f"/c/guild/i/{secret}")

    async def member_tries(hearth: Hearth) -> None:
        token = link_token(out)
        signed = await post(hearth, "/login", {"token": token})
        cookie = signed.headers["Set-Cookie"].split(";")[0]
        path = f"/c/guild/i/{state['constellation']}"
        page = await Visitor.get(hearth, path, {"Cookie": cookie})
        seen["member_page"] = page
        seen["member_edit"] = await post(
            hearth,
            path + "/edit",
            {"csrf": csrf_of(page.text), "body": "hijacked", "visibility": "public"},
            cookie,
        )
        seen["logout"] = await post(hearth, "/logout", {"csrf": csrf_of(page.text)}, cookie)
        seen["after_logout"] = await Visitor.get(hearth, path, {"Cookie": cookie})

    async def expire(hearth: Hearth) -> None:
        clock.advance(timedelta(minutes=11))
        token = link_token(out)
        seen["expired_offer"] = await Visitor.get(hearth, f"/login?token={token}")
        seen["expired"] = await post(hearth, "/login", {"token": token})

    async def zelda_signs_in(hearth: Hearth) -> None:
        signed = await post(hearth, "/login", {"token": link_token(out)})
        state["zelda"] = signed.headers["Set-Cookie"].split(";")[0]
        path = f"/c/guild/i/{state['constellation']}"
        seen["zelda_before"] = await Visitor.get(hearth, path, {"Cookie": state["zelda"]})

    async def zelda_after(hearth: Hearth) -> None:
        path = f"/c/guild/i/{state['constellation']}"
        seen["zelda_after"] = await Visitor.get(hearth, path, {"Cookie": state["zelda"]})

    steps: list[Step] = [
        *garden_steps(out),
        ":as cora",
        "/garden login",
        sign_in,
        edit,
        "/search launches",
        ":as alice",
        "/garden login",
        member_tries,
        "/garden login",
        expire,
        ":as zelda",
        "/garden login",
        zelda_signs_in,
        *forget_zelda(),
        zelda_after,
    ]
    printed = await run_script(config, steps, clock, out=out)

    assert "(only cora) hearth: 🔑 Your sign-in link to The Guild's garden" in printed
    assert seen["offer"].status == 200 and "Sign in as cora" in seen["offer"].text
    signed = seen["signed"]
    assert signed.status == 303 and signed.headers["Location"] == "/c/guild/"
    cookie = signed.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert seen["again"].status == 410 and "has been used or has expired" in seen["again"].text
    assert seen["offer_again"].status == 410

    member_view = seen["member_view"]
    assert member_view.status == 200 and SECRET_COMMUNITY in member_view.text
    assert member_view.headers["Cache-Control"] == "private, no-store"
    assert 'action="/c/guild/i/' in member_view.text  # the curator's edit form
    assert seen["public_view"].status == 404  # still community-only for visitors
    assert seen["no_csrf"].status == 403 and seen["cross_site"].status == 403
    assert seen["edited"].status == 303
    now_public = seen["now_public"]
    assert (
        now_public.status == 200 and "fine to publish once the garden launches" in now_public.text
    )
    assert "#launch" in now_public.text
    # the chat's /search finds the words edited on the web
    after = printed.split("/search launches", 1)[1]
    assert "Unlisted pricing plans are fine to publish" in after.split("\n* you are now alice")[0]

    assert seen["member_page"].status == 200 and SECRET_CONSTELLATION in seen["member_page"].text
    assert 'action="/c/guild/i/' not in seen["member_page"].text  # no edit form for a member
    assert seen["member_edit"].status == 400 and "Only curators" in seen["member_edit"].text
    assert seen["logout"].status == 303 and "hearth_garden=" in seen["logout"].headers["Set-Cookie"]
    assert seen["after_logout"].status == 404  # the old cookie signs nobody in

    assert seen["expired_offer"].status == 410 and seen["expired"].status == 410
    # /forget-me ends the person's garden sessions at once
    assert seen["zelda_before"].status == 200 and seen["zelda_after"].status == 404


async def test_a_sign_in_link_names_the_public_address_or_says_it_is_missing(
    database_url: str, tmp_path: Path
) -> None:
    """Listening on every interface, Hearth cannot know the garden's address: /garden
    login says what the operator must set instead of handing out a link to 0.0.0.0."""
    everywhere = '\n[web]\nlisten = "0.0.0.0:0"\ngarden = true\n'
    printed = await run_script(
        make_config(database_url, tmp_path / "a", extra=everywhere), ["/garden login"]
    )
    assert "an operator sets [web] public_url" in printed
    assert "/login?token=" not in printed

    public = WEB + 'public_url = "https://garden.example.org"\n'
    printed = await run_script(
        make_config(database_url, tmp_path / "b", extra=public), ["/garden login"]
    )
    assert "https://garden.example.org/login?token=" in printed
