"""Rate limits on what costs something (model tokens, invitations), per member, with a
reply that says which limit was hit and when to try again."""

from __future__ import annotations

import math
from datetime import timedelta

from bot.config_features import LimitsConfig
from knowledge.errors import LimitReached
from knowledge.limits import Limit, RateLimits


class Limits:
    def __init__(self, store: RateLimits, config: LimitsConfig) -> None:
        self._store = store
        self.model = Limit("model", config.model_commands_per_hour, timedelta(hours=1))
        self.invite = Limit("invite", config.invitations_per_day, timedelta(days=1))

    async def spend_model(self, member_id: int, prefix: str) -> None:
        """Count one /ask or /summarize; LimitReached when the member's hour is used up."""
        wait = await self._store.spend(member_id, self.model)
        if wait is not None:
            raise LimitReached(
                f"You have used `{prefix}ask` and `{prefix}summarize` {self.model.allowed} "
                f"time(s) this hour, the limit here; try again in {_minutes(wait)}."
            )

    async def spend_invite(self, member_id: int, prefix: str) -> None:
        """Count one invitation code; LimitReached when the member's day is used up."""
        wait = await self._store.spend(member_id, self.invite)
        if wait is not None:
            raise LimitReached(
                f"You have created {self.invite.allowed} invitation(s) today, the limit "
                f"here; try `{prefix}constellation invite` again in {_minutes(wait)}."
            )


def _minutes(wait: timedelta) -> str:
    minutes = max(1, math.ceil(wait.total_seconds() / 60))
    if minutes >= 120:
        return f"{math.ceil(minutes / 60)} hours"
    return "1 minute" if minutes == 1 else f"{minutes} minutes"
