"""Slack: slack-bolt inbound (HTTP or Socket Mode), slack_sdk's Web API outbound."""

from adapters.slack.adapter import SlackAdapter
from adapters.slack.config import SlackConfig
from adapters.slack.manifest import build_manifest, manifest_yaml

__all__ = ["SlackAdapter", "SlackConfig", "build_manifest", "manifest_yaml"]
