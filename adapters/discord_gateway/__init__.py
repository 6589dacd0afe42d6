"""Hearth on Discord through discord.py (named `discord_gateway` so it never shadows `discord`)."""
