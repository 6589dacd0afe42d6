"""Who people are in the workspace: display names, admin/owner flags, user groups.

Why a short-lived cache: every command, message and reaction names a user id, and the
core wants a display name and (for commands and reactions) the role the workspace grants.
`users.info` is rate-limited (tier 4), so answers are kept `role_cache_seconds`; a failed
lookup degrades to the bare id and an unknown role (None: the core then keeps the
member's role as it is) rather than failing the person's command.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.config import SlackConfig
from adapters.slack.webapi import call, data, error_code
from bot.events import Role, UserRef
from bot.port import DeliveryError

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class SlackUser:
    id: str
    name: str
    is_admin: bool = False
    is_owner: bool = False
    avatar_url: str | None = None  # the profile picture, for attribution on relays


def avatar_of(icons: dict[str, Any]) -> str | None:
    """The largest usual picture in a Slack profile or `icons` object (`image_192`…)."""
    for key in ("image_192", "image_72", "image_512", "image_48", "image_36", "image_24"):
        url = icons.get(key)
        if isinstance(url, str) and url:
            return url
    return None


class Workspace:
    def __init__(
        self,
        client: AsyncWebClient,
        config: SlackConfig,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._config = config
        self._clock = clock
        self._users: dict[str, tuple[float, SlackUser]] = {}
        self._groups: dict[str, tuple[float, frozenset[str]]] = {}

    def _fresh(self, stamped: float) -> bool:
        return self._clock() - stamped < self._config.role_cache_seconds

    async def user(self, user_id: str) -> SlackUser:
        return await self._lookup(user_id) or SlackUser(user_id, user_id)

    async def _lookup(self, user_id: str) -> SlackUser | None:
        """The user as Slack describes them; None when Slack could not be asked."""
        cached = self._users.get(user_id)
        if cached is not None and self._fresh(cached[0]):
            return cached[1]
        try:
            body = data(await call("users.info", self._client.users_info(user=user_id)))
        except DeliveryError as exc:
            log.info("slack.user_unknown", user=user_id, error=error_code(exc))
            return None
        raw = body.get("user") or {}
        profile = raw.get("profile") or {}
        name = (
            profile.get("display_name")
            or profile.get("real_name")
            or raw.get("real_name")
            or raw.get("name")
            or user_id
        )
        user = SlackUser(
            user_id,
            str(name),
            is_admin=bool(raw.get("is_admin")),
            is_owner=bool(raw.get("is_owner") or raw.get("is_primary_owner")),
            avatar_url=avatar_of(profile),
        )
        self._users[user_id] = (self._clock(), user)
        return user

    async def _group_members(self, group_id: str) -> frozenset[str] | None:
        cached = self._groups.get(group_id)
        if cached is not None and self._fresh(cached[0]):
            return cached[1]
        try:
            request = self._client.usergroups_users_list(usergroup=group_id)
            body = data(await call("usergroups.users.list", request))
        except DeliveryError as exc:
            log.warning("slack.usergroup_unavailable", usergroup=group_id, error=error_code(exc))
            return None
        members = frozenset(str(u) for u in body.get("users") or [])
        self._groups[group_id] = (self._clock(), members)
        return members

    async def role_of(self, user_id: str) -> Role | None:
        """The role the workspace itself grants (owner/admin flags, configured groups);
        None when Slack could not tell us (so an outage never takes anyone's role away)."""
        user = await self._lookup(user_id)
        if user is None:
            return None
        groups: set[str] = set()
        for group in (self._config.curator_usergroup, self._config.steward_usergroup):
            if not group:
                continue
            members = await self._group_members(group)
            if members is None:
                return None
            if user_id in members:
                groups.add(group)
        return self._config.role_for(owner=user.is_owner, admin=user.is_admin, groups=groups)

    async def actor(self, user_id: str) -> UserRef:
        """Who acted, with the role the workspace grants them for the core to apply."""
        user = await self._lookup(user_id)
        if user is None:
            return UserRef("slack", user_id, user_id)
        return UserRef("slack", user_id, user.name, platform_role=await self.role_of(user_id))
