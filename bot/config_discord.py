"""The `[adapters.discord]` config section (part of the core config model).

The token is only ever a `${ENV}` reference, like every other secret in Hearth.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class GuildRoles(_Section):
    """Which Discord roles (by name or id) make a member a curator or a steward in one guild."""

    curator_roles: list[str] = Field(default_factory=list)
    steward_roles: list[str] = Field(default_factory=list)


class DiscordConfig(_Section):
    enabled: bool = False
    token: str = Field("", description='from the environment: "${HEARTH_DISCORD_TOKEN}"')
    application_id: int | None = Field(None, description="the application (client) id")
    dev_guild_ids: list[int] = Field(
        default_factory=list,
        description="sync commands to these guilds only (instant); empty: global commands",
    )
    shard_count: int | None = Field(
        None, ge=1, description="empty: as many shards as Discord recommends"
    )
    shard_ids: list[int] | None = Field(
        None,
        description="the shards this process runs (needs shard_count); empty: all of them",
    )
    curator_roles: list[str] = Field(
        default_factory=lambda: ["Curator"], description="role names or ids, in every guild"
    )
    steward_roles: list[str] = Field(
        default_factory=lambda: ["Steward"],
        description="role names or ids, in every guild; Manage Server always counts as steward",
    )
    guilds: dict[str, GuildRoles] = Field(
        default_factory=dict, description="per guild id: its own curator/steward role lists"
    )
    defer_after_seconds: float = Field(
        2.0,
        ge=0,
        le=2.8,
        description="a command still running after this is deferred (Discord allows 3 s)",
    )

    @model_validator(mode="after")
    def _complete_when_enabled(self) -> DiscordConfig:
        if self.enabled and (not self.token or self.application_id is None):
            raise ValueError("an enabled Discord adapter needs token and application_id")
        if self.shard_ids is not None:
            if self.shard_count is None:
                raise ValueError("shard_ids needs shard_count (how many shards there are in all)")
            wrong = [i for i in self.shard_ids if not 0 <= i < self.shard_count]
            if wrong or not self.shard_ids or len(set(self.shard_ids)) != len(self.shard_ids):
                raise ValueError(
                    f"shard_ids must be distinct numbers from 0 to {self.shard_count - 1}"
                )
        return self

    def roles_for(self, guild_id: str) -> GuildRoles:
        """The guild's own role lists, or the defaults."""
        return self.guilds.get(
            guild_id, GuildRoles(curator_roles=self.curator_roles, steward_roles=self.steward_roles)
        )
