"""What an operator needs outside the running bot: the invite URL and a command sync.

The permission and intent sets live here, in one place, so the invite asks for exactly what
the adapter uses and nothing more.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import discord

from adapters.discord_gateway.commands import application_commands
from adapters.discord_gateway.config import DiscordConfig
from bot.commands.spec import CommandTable

# What the adapter does in a channel: read it, post (also in threads), open a thread for a
# ritual round, react, fetch older messages for 💡 and /summarize, and create the channel
# webhook that posts relayed copies under their authors' names.
PERMISSIONS = discord.Permissions(
    manage_webhooks=True,
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    create_public_threads=True,
    read_message_history=True,
    add_reactions=True,
)


def intents() -> discord.Intents:
    """Guild structure, messages (with their text: privileged) and reactions; no members."""
    wanted = discord.Intents.none()
    wanted.guilds = True
    wanted.guild_messages = True
    wanted.guild_reactions = True
    wanted.message_content = True
    return wanted


def invite_url(application_id: int) -> str:
    query = urlencode(
        {
            "client_id": str(application_id),
            "permissions": str(PERMISSIONS.value),
            "scope": "bot applications.commands",
        }
    )
    return f"https://discord.com/oauth2/authorize?{query}"


async def sync_commands(config: DiscordConfig, table: CommandTable) -> list[str]:
    """Register the table with Discord (dev guilds, else globally); what was synced, by scope.

    Only REST is needed, so this logs in over HTTP and never opens the gateway; discord.py's
    HTTP client keeps handling rate limits.
    """
    if config.application_id is None:
        raise ValueError("adapters.discord.application_id is not set")
    client = discord.Client(intents=intents(), application_id=config.application_id)
    payload = application_commands(table)
    done: list[str] = []
    try:
        await client.login(config.token)
        result: Any
        if config.dev_guild_ids:
            for guild_id in config.dev_guild_ids:
                result = await client.http.bulk_upsert_guild_commands(
                    config.application_id, guild_id, payload
                )
                done.append(f"guild {guild_id}: {len(result)} commands")
        else:
            result = await client.http.bulk_upsert_global_commands(config.application_id, payload)
            done.append(f"global: {len(result)} commands")
    finally:
        await client.close()
    return done
