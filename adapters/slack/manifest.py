"""The Slack app manifest, generated from the one command table.

Why generated: the slash commands, scopes and event subscriptions must match what the
adapter handles; a hand-kept manifest drifts. `hearth slack manifest` prints
`manifest_yaml(config)`; paste it at api.slack.com/apps → "Create from manifest".
"""

from __future__ import annotations

from typing import Any

from adapters.slack.config import SlackConfig
from adapters.slack.modal import CALLBACK_ID
from bot.commands.spec import Command, CommandTable
from bot.commands.table import build_command_table

BOT_SCOPES = (
    "commands",  # slash commands and the message shortcut
    "chat:write",  # replies, ritual prompts, ephemeral answers
    "chat:write.customize",  # relayed copies under the original author's name and picture
    "reactions:read",  # 💡 and 🏷️ on messages
    "reactions:write",  # Hearth's own acknowledgements
    "channels:history",  # fetch the message a 💡 or the shortcut points at; follow edits
    "groups:history",  # the same in private channels Hearth is invited to
    "im:history",  # commands sent by direct message
    "users:read",  # display names; workspace admin/owner flags for roles
    "usergroups:read",  # the configured curator/steward user groups
)
BOT_EVENTS = ("reaction_added", "message.channels", "message.groups", "message.im")
OAUTH_EVENTS = ("app_uninstalled", "tokens_revoked")  # a workspace leaving pauses its links
PLACEHOLDER = "https://hearth.example.org"  # replace before installing
DESCRIPTION_LIMIT = 2000  # Slack's limit for a slash command description
HINT_LIMIT = 1000


def _usage_hint(command: Command) -> str:
    if command.subcommands:
        return "|".join(s.name for s in command.subcommands) + " …"
    return " ".join(o.usage() for o in command.options)


def build_manifest(config: SlackConfig, table: CommandTable | None = None) -> dict[str, Any]:
    """The manifest as a dict: one slash command per table entry, the shortcut, scopes."""
    table = table or build_command_table()
    http = config.mode == "http"
    base = config.public_url.rstrip("/") or PLACEHOLDER
    request_url = base + config.path
    commands = []
    for command in table.commands:
        entry: dict[str, Any] = {
            "command": f"/{config.command_prefix}{command.name}",
            "description": command.help[:DESCRIPTION_LIMIT],
            "should_escape": True,  # Slack resolves #channels and @people to ids for us
        }
        hint = _usage_hint(command)
        if hint:
            entry["usage_hint"] = hint[:HINT_LIMIT]
        if http:
            entry["url"] = request_url
        commands.append(entry)
    events = list(BOT_EVENTS) + (list(OAUTH_EVENTS) if config.oauth else [])
    settings: dict[str, Any] = {
        "event_subscriptions": {"bot_events": events},
        "interactivity": {"is_enabled": True},
        "org_deploy_enabled": False,
        "socket_mode_enabled": not http,
        "token_rotation_enabled": config.oauth and config.token_rotation,
    }
    oauth_config: dict[str, Any] = {"scopes": {"bot": list(BOT_SCOPES)}}
    if config.oauth:
        oauth_config = {"redirect_urls": [base + config.redirect_path], **oauth_config}
    if http:
        settings["event_subscriptions"]["request_url"] = request_url
        settings["interactivity"]["request_url"] = request_url
    return {
        "display_information": {
            "name": config.app_name,
            "description": "Keeps what your community learns: insights, search, rituals.",
        },
        "features": {
            "bot_user": {"display_name": config.app_name.lower(), "always_online": True},
            "slash_commands": commands,
            "shortcuts": [
                {
                    "name": "Save as insight",
                    "type": "message",
                    "callback_id": CALLBACK_ID,
                    "description": "Keep this message as an insight, with tags",
                }
            ],
        },
        "oauth_config": oauth_config,
        "settings": settings,
    }


def distribution_notes(config: SlackConfig) -> str:
    """What the manifest cannot say: how other workspaces get Hearth (YAML comments)."""
    if not config.oauth:
        return ""
    base = config.public_url.rstrip("/") or PLACEHOLDER
    return (
        "# Install to many workspaces (OAuth): after creating the app, open Manage Distribution\n"
        "# and activate public distribution (the redirect URL below must stay HTTPS).\n"
        f'# Install URL ("Add to Slack"): {base}{config.install_path}\n'
        f"# OAuth redirect URL: {base}{config.redirect_path}\n"
    )


def manifest_yaml(config: SlackConfig, table: CommandTable | None = None) -> str:
    import yaml  # the `slack-manifest` command only: not loaded by a running bot

    body = yaml.safe_dump(
        build_manifest(config, table), sort_keys=False, allow_unicode=True, width=100
    )
    return distribution_notes(config) + body
