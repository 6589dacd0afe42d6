"""`/constellation accept <code>@<host>`: a link with a community of another Hearth
deployment (bot/federation/links.py does the work; this is what the handler needs)."""

from __future__ import annotations

from typing import Protocol

from bot.commands.spec import Reply
from bot.context import CommandContext
from knowledge.errors import InvalidInput
from knowledge.views import CommunityInfo


class CrossDeployment(Protocol):
    """Links with communities of other Hearth deployments, when [federation] is on."""

    def host(self, slug: str) -> str: ...

    async def accept(
        self, community: CommunityInfo, member_id: int, channel: tuple[str, str, str], text: str
    ) -> str: ...

    async def left(self, link_id: int) -> bool:
        """Tell the other deployment; False when the link is not across deployments."""
        ...


async def accept_across(
    cross: CrossDeployment | None, ctx: CommandContext, here: tuple[str, str, str], code: str
) -> Reply:
    if cross is None:
        raise InvalidInput(
            "That code is from another Hearth deployment, and this one does not "
            "federate ([federation] enabled is off)."
        )
    asked = await cross.accept(ctx.community, ctx.member.id, here, code)
    return Reply(
        f"🔗 Asked {asked} to confirm the link; relays start once it answers "
        f"(`{ctx.prefix}constellation list` shows it)."
    )
