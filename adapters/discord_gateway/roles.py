"""The role a Discord server grants a member: Manage Server (or Administrator) stewards,
the configured `steward_roles` / `curator_roles` (names or ids) by membership.

Why it can answer None: the core takes back a role the platform gave when this says
less, so a guess must never stand in for an answer. Discord sends the member's role ids
with every interaction and reaction, but their names (and, for reactions, the permissions
they carry) come from the guild cache; when a role is missing from it and the answer
could depend on that role, the role is unknown and nothing changes.
"""

from __future__ import annotations

import discord

from bot.config_discord import GuildRoles
from bot.events import Role


def role_of(
    roles: GuildRoles, member: discord.Member, manage_guild: bool, *, exact_permissions: bool
) -> Role | None:
    """`manage_guild`: whether the member may manage the server; `exact_permissions`:
    whether that came from Discord itself (an interaction) rather than the cache."""
    ids = [int(i) for i in getattr(member, "_roles", ())]  # all of them, cached or not
    found = [member.guild.get_role(i) for i in ids]
    mine = {str(i) for i in ids} | {r.name for r in found if r is not None}
    if manage_guild or mine & set(roles.steward_roles):
        return Role.STEWARD
    complete = all(r is not None for r in found)
    by_name = any(not r.isdigit() for r in (*roles.steward_roles, *roles.curator_roles))
    if not complete and (by_name or not exact_permissions):
        return None  # a role we cannot see may be the one that grants more
    if mine & set(roles.curator_roles):
        return Role.CURATOR
    return Role.MEMBER


def interaction_role(roles: GuildRoles, interaction: discord.Interaction) -> Role | None:
    """From an interaction: its permissions are computed by Discord for this channel."""
    user = interaction.user
    if not isinstance(user, discord.Member):
        return None  # a DM: no server to ask
    permissions = interaction.permissions
    manage = permissions.manage_guild or permissions.administrator
    return role_of(roles, user, manage, exact_permissions=True)


def reaction_role(roles: GuildRoles, member: discord.Member | None) -> Role | None:
    """From a reaction: only when Discord sent the member (a cached server)."""
    if member is None:
        return None
    permissions = member.guild_permissions
    manage = permissions.manage_guild or permissions.administrator
    return role_of(roles, member, manage, exact_permissions=False)
