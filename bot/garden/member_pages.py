"""The members' forms: the sign-in page, sign-in and sign-out, and an insight's edit."""

from __future__ import annotations

from urllib.parse import quote, unquote

from aiohttp import web

from bot.garden.members import COOKIE, same_origin
from bot.garden.pages import DIGITS, GardenPages, NotFoundPage, Page, Redirect
from knowledge.errors import UserError
from knowledge.garden_auth import SignedIn


class MemberPages(GardenPages):
    """Posted forms and the sign-in page."""

    async def login_page(self, request: web.Request) -> Page:
        assert self._members is not None
        token = request.query.get("token", "")
        pending = None
        if 0 < len(token) <= 100:
            pending = await self._members.auth.peek_link(token, self._clock.now())
        return self.render(
            request,
            "login.html.j2",
            status=200 if pending else 410,
            title="Sign in",
            canonical=None,
            pending=pending,
            token=token,
        )

    async def post(self, request: web.Request, signed: SignedIn | None) -> Page:
        assert self._members is not None
        if not same_origin(request):
            return self._message(request, 403, "This form came from another site.")
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        raw = request.rel_url.raw_path
        if raw == "/login":
            redeemed = await self._members.auth.redeem(
                form.get("token", "")[:100], self._clock.now()
            )
            if redeemed is None:
                return self._message(
                    request,
                    410,
                    "This sign-in link has been used or has expired. Ask for a new one "
                    "with /garden login in chat.",
                )
            session, who = redeemed
            raise Redirect(f"/c/{quote(who.community.slug)}/", 303, cookie=session)
        if signed is None or not signed.csrf_ok(form.get("csrf", "")):
            return self._message(
                request, 403, "Your session has ended or this form is stale: sign in again."
            )
        if raw == "/logout":
            await self._members.auth.sign_out(request.cookies.get(COOKIE, ""))
            raise Redirect("/", 303, cookie="")
        segments = [unquote(part) for part in raw.split("/")[1:]]
        if (
            len(segments) == 5
            and segments[0] == "c"
            and segments[1] == signed.community.slug
            and segments[2] == "i"
            and DIGITS.fullmatch(segments[3])
            and segments[4] == "edit"
        ):
            insight_id = int(segments[3])
            try:
                await self._members.edit(signed, insight_id, form, self._clock.now())
            except UserError as exc:
                return self._message(request, 400, exc.message)
            raise Redirect(f"/c/{quote(signed.community.slug)}/i/{insight_id}", 303)
        raise NotFoundPage

    def _message(self, request: web.Request, status: int, text: str) -> Page:
        return self.render(
            request, "message.html.j2", status=status, title="Garden", canonical=None, text=text
        )
