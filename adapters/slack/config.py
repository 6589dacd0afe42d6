"""The Slack section is part of the core config model (bot/config_slack.py)."""

from bot.config_slack import SECRET_KEYS, SlackConfig, inline_secrets

__all__ = ["SECRET_KEYS", "SlackConfig", "inline_secrets"]
