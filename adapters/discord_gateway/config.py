"""The Discord section is part of the core config model (bot/config_discord.py)."""

from bot.config_discord import DiscordConfig, GuildRoles

__all__ = ["DiscordConfig", "GuildRoles"]
