"""The store of Slack workspaces installed through OAuth: tokens sealed, a refresh that
races an uninstall loses, a state works once, a different key reads nothing."""

from __future__ import annotations

from datetime import timedelta

from cryptography.fernet import Fernet
from sqlalchemy import text

from knowledge.db import Database
from knowledge.slack_installs import SlackInstalls

BOT = {"team_id": "TA", "bot_token": "xoxb-secret-1", "bot_user_id": "UB", "installed_at": 1.0}


async def test_a_token_is_sealed_and_a_refresh_after_an_uninstall_does_not_bring_it_back(
    database: Database,
) -> None:
    key = Fernet.generate_key().decode()
    installs = SlackInstalls(database, key)
    installed = await installs.save("TA", "Acme", BOT)
    assert installed.community_slugs == ("slack-ta",) and installed.created
    async with database.engine.connect() as connection:
        stored = str((await connection.execute(text("SELECT * FROM slack_installations"))).all())
    assert "xoxb-secret-1" not in stored
    assert (await installs.find("TA"))["bot_token"] == "xoxb-secret-1"  # type: ignore[index]

    assert await installs.refresh("TA", {**BOT, "bot_token": "xoxb-secret-2"})
    assert (await installs.find("TA"))["bot_token"] == "xoxb-secret-2"  # type: ignore[index]
    assert await installs.remove("TA") == 0  # no links to pause, and nothing fails
    assert not await installs.refresh("TA", {**BOT, "bot_token": "xoxb-secret-3"})
    assert await installs.find("TA") is None
    again = await installs.save("TA", "Acme", BOT)
    assert again.community_slugs == ("slack-ta",) and not again.created  # its data kept

    other_key = SlackInstalls(database, Fernet.generate_key().decode())
    assert await other_key.find("TA") is None  # the wrong key reads nothing, says so in the log


async def test_an_oauth_state_is_consumed_once(database: Database) -> None:
    installs = SlackInstalls(database, Fernet.generate_key().decode())
    await installs.issue_state("s1", timedelta(minutes=10))
    assert await installs.consume_state("s1")
    assert not await installs.consume_state("s1")
    assert not await installs.consume_state("never-issued")
