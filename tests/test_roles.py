"""Roles follow their source, in the store, on SQLite and PostgreSQL.

The platform (a Slack admin, a Discord role, a Matrix power level) may raise a member and
take back what it raised; a role from the config file or granted in Hearth stays whatever
the platform says; a platform that cannot tell (None) changes nothing.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from knowledge.db import Database, open_database
from knowledge.directory import Directory
from knowledge.migrate import current_revision, head_revision, upgrade
from knowledge.views import MemberInfo
from knowledge.vocabulary import Role, RoleSource
from tests.conftest import ADMIN_URL, _admin


@pytest.fixture
async def directory(database: Database) -> Directory:
    return Directory(database)


async def _community(directory: Directory) -> int:
    return (await directory.ensure_community("guild", "The Guild", "UTC")).id


async def _seen(
    directory: Directory, community: int, granted: Role | None, user: str = "U1"
) -> MemberInfo:
    """The member as the core sees them when they act with what the platform grants."""
    return await directory.resolve_member(community, "slack", user, "ann", granted)


async def test_the_platform_raises_and_takes_back_what_it_gave(directory: Directory) -> None:
    community = await _community(directory)
    assert (await _seen(directory, community, Role.MEMBER)).role is Role.MEMBER
    raised = await _seen(directory, community, Role.CURATOR)
    assert (raised.role, raised.role_source) == (Role.CURATOR, RoleSource.PLATFORM)
    assert (await _seen(directory, community, Role.STEWARD)).role is Role.STEWARD
    lowered = await _seen(directory, community, Role.CURATOR)
    assert (lowered.role, lowered.role_source) == (Role.CURATOR, RoleSource.PLATFORM)
    gone = await _seen(directory, community, Role.MEMBER)
    assert (gone.role, gone.role_source) == (Role.MEMBER, None)


async def test_an_unknown_platform_role_changes_nothing(directory: Directory) -> None:
    community = await _community(directory)
    await _seen(directory, community, Role.CURATOR)
    unknown = await _seen(directory, community, None)  # e.g. a reaction without member info
    assert (unknown.role, unknown.role_source) == (Role.CURATOR, RoleSource.PLATFORM)


async def test_config_and_hearth_roles_are_never_lowered_by_the_platform(
    directory: Directory,
) -> None:
    community = await _community(directory)
    await directory.apply_config_roles(community, {("slack", "UCFG"): Role.CURATOR})
    await directory.assign_role(community, "slack", "UHRT", Role.CURATOR)  # a Hearth grant
    for user, source in (("UCFG", RoleSource.CONFIG), ("UHRT", RoleSource.HEARTH)):
        kept = await _seen(directory, community, Role.MEMBER, user)
        assert (kept.role, kept.role_source) == (Role.CURATOR, source)
        above = await _seen(directory, community, Role.STEWARD, user)
        assert (above.role, above.role_source) == (Role.STEWARD, RoleSource.PLATFORM)
        back = await _seen(directory, community, Role.MEMBER, user)
        assert (back.role, back.role_source) == (Role.CURATOR, source)


async def test_a_config_grant_keeps_the_name_and_a_higher_platform_role(
    directory: Directory,
) -> None:
    community = await _community(directory)
    await _seen(directory, community, Role.STEWARD)
    await directory.apply_config_roles(community, {("slack", "U1"): Role.CURATOR})
    member = await _seen(directory, community, None)
    assert (member.display_name, member.role) == ("ann", Role.STEWARD)
    assert (await _seen(directory, community, Role.MEMBER)).role is Role.CURATOR


async def test_leaving_the_config_takes_back_only_the_configs_role(directory: Directory) -> None:
    community = await _community(directory)
    await directory.apply_config_roles(
        community, {("slack", "U1"): Role.STEWARD, ("slack", "U2"): Role.CURATOR}
    )
    await _seen(directory, community, Role.CURATOR, "U2")
    await directory.assign_role(community, "slack", "U3", Role.CURATOR)
    await directory.apply_config_roles(community, {})
    assert (await _seen(directory, community, None, "U1")).role is Role.MEMBER
    assert (await _seen(directory, community, None, "U2")).role is Role.CURATOR  # the platform's
    assert (await _seen(directory, community, None, "U3")).role is Role.CURATOR  # Hearth's


async def test_first_sight_from_many_events_at_once_is_one_member_with_the_role(
    directory: Directory,
) -> None:
    community = await _community(directory)
    seen = await asyncio.gather(*(_seen(directory, community, Role.CURATOR) for _ in range(6)))
    assert {m.id for m in seen} == {seen[0].id}
    assert (await _seen(directory, community, None)).role is Role.CURATOR


# the migration: roles raised before sources were recorded ----------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """An empty database with no schema yet (the migration is what is tested)."""
    if request.param == "sqlite":
        database = open_database(f"sqlite:///{tmp_path / 'old.db'}")
        yield database
        await database.dispose()
        return
    if ADMIN_URL == "off":
        pytest.skip("HEARTH_TEST_POSTGRES=off")
    name = f"hearth_roles_{uuid.uuid4().hex[:10]}"
    await _admin(f'CREATE DATABASE "{name}"')
    database = open_database(ADMIN_URL.rsplit("/", 1)[0] + f"/{name}")
    try:
        yield database
    finally:
        await database.dispose()
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_roles_raised_before_the_upgrade_become_the_platforms(fresh: Database) -> None:
    """Why: until now config and platform roles shared one column; moving raised roles to
    the platform's side lets a platform take back what it gave, and the config's own are
    applied again (as config) at every start."""
    await upgrade(fresh, "0006")
    async with fresh.engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO communities (id, slug, name, timezone, created_at) "
                "VALUES (1, 'guild', 'The Guild', 'UTC', '2026-01-01 00:00:00+00')"
            )
        )
        await connection.execute(
            text(
                "INSERT INTO members (id, community_id, display_name, role, created_at) VALUES "
                "(1, 1, 'ann', 'steward', '2026-01-01 00:00:00+00'), "
                "(2, 1, 'bob', 'member', '2026-01-01 00:00:00+00')"
            )
        )
        for member, user in ((1, "UANN"), (2, "UBOB")):
            await connection.execute(
                text(
                    "INSERT INTO identities (community_id, member_id, platform, "
                    f"platform_user_id, display_name) VALUES (1, {member}, 'slack', '{user}', 'x')"
                )
            )
    await upgrade(fresh)
    assert await current_revision(fresh) == head_revision()
    directory = Directory(fresh)
    ann = await directory.resolve_member(1, "slack", "UANN", "ann")
    assert (ann.role, ann.role_source) == (Role.STEWARD, RoleSource.PLATFORM)
    assert (await directory.resolve_member(1, "slack", "UANN", "ann", Role.MEMBER)).role is (
        Role.MEMBER
    )
    bob = await directory.resolve_member(1, "slack", "UBOB", "bob")
    assert (bob.role, bob.role_source) == (Role.MEMBER, None)
