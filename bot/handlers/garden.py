"""/garden login: a private, one-time link that signs a member in to the web garden."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.commands.spec import Args, Command, Reply
from bot.context import CommandContext
from knowledge.clock import Clock
from knowledge.errors import InvalidInput
from knowledge.garden_auth import GardenAuth


@dataclass(frozen=True)
class GardenLinks:
    """What /garden login needs: the sign-in store and the garden's address."""

    auth: GardenAuth
    url: Callable[[], str]  # without a trailing slash; known once the server listens


@dataclass(frozen=True)
class GardenCommands:
    garden: GardenLinks | None  # None: the web garden is off
    clock: Clock

    async def login(self, ctx: CommandContext, args: Args) -> Reply:
        if self.garden is None:
            raise InvalidInput(
                "The web garden is off on this Hearth: an operator turns it on with "
                "`[web] garden = true` (and `public_url`)."
            )
        if not ctx.port.capabilities.private_replies:  # every reply would be seen by the room
            raise InvalidInput(
                "Replies here are seen by everyone in the room, so I will not post a sign-in "
                "link: ask for it where replies can be private (Slack, Discord or the console)."
            )
        address = self.garden.url()
        if not address:  # listening on every interface: no link can name the garden
            raise InvalidInput(
                "The garden has no address a link can point to yet: an operator sets "
                "`[web] public_url` to where people reach it (e.g. https://garden.example.org)."
            )
        token = await self.garden.auth.issue_link(ctx.member, self.clock.now())
        return Reply(
            f"🔑 Your sign-in link to {ctx.community.name}'s garden, just for you: "
            f"{address}/login?token={token}\n"
            "It works once, within 10 minutes. Do not share it: it signs in as you.",
            ephemeral=True,
            private=True,
        )


COMMAND = Command(
    name="garden",
    help="The community's pages on the web",
    subcommands=(
        Command(
            "login",
            "Get a private one-time link that signs you in to the garden",
            GardenCommands.login,
        ),
    ),
)
