"""Rituals end to end through the console, with a test clock instead of waiting."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.app import Hearth
from knowledge.clock import ManualClock
from knowledge.rituals import NewRitual
from knowledge.vocabulary import RitualKind
from tests.harness.console_harness import MONDAY_8, at, make_config, run_script

BERLIN = ZoneInfo("Europe/Berlin")


async def test_a_full_round_prompt_reminder_close_synthesis_and_late_reply(
    database_url: str, tmp_path: Path
) -> None:
    clock = ManualClock(MONDAY_8)
    nine = MONDAY_8 + timedelta(hours=1)
    output = await run_script(
        make_config(database_url, tmp_path),
        [
            ":as cora",
            "/ritual add reflection #general weekly on monday at 9:00",  # 1
            "/ritual confirm",  # 2, reply 3
            at(clock, nine),  # prompt 4
            ":as bob",
            "/ritual reminders on",  # 5
            ":as carol",
            "/ritual reminders on",  # 6
            ":as alice",
            ":reply 4 I learned to write the test first #testing",  # 7
            at(clock, nine + timedelta(hours=38, minutes=30)),  # reminder 8
            ":as bob",
            ":reply 4 Pairing made reviews faster #pairing #testing",  # 9
            at(clock, nine + timedelta(days=2)),  # synthesis 10
            ":as carol",
            ":reply 4 Late, but: small PRs",  # 11 → synthesis edited
            "/ritual show reflection",
        ],
        clock,
    )
    assert "Mon 2026-11-30 09:00 CET" in output  # the preview, in the community's zone
    assert "#4 hearth: 💭 " in output
    assert "#8 hearth → #4: ⏰ bob, carol: about 10 hour(s) left" in output
    assert (
        "#10 hearth → #4: 🧭 reflection: round closed with 2 response(s) from alice, bob" in output
    )
    assert "Themes: #testing (2) · #pairing (1)" in output
    assert (
        "* #10 edited by hearth: 🧭 reflection: round closed with 3 response(s), 1 after closing"
        in output
    )
    assert "Completion: 1/1 rounds answered (100%), 3 response(s) from 3 member(s)" in output


async def test_rounds_open_once_per_slot_and_pause_skip_are_respected(
    database_url: str, tmp_path: Path
) -> None:
    clock = ManualClock(MONDAY_8)
    nine = MONDAY_8 + timedelta(hours=1)
    week = timedelta(days=7)
    output = await run_script(
        make_config(database_url, tmp_path),
        [
            ":as cora",
            "/ritual add checkin here weekly on monday at 9:00 name:weekly",
            "/ritual confirm",
            at(clock, nine),
            at(clock, nine + timedelta(minutes=1)),  # same slot: nothing new
            "/ritual skip next weekly",
            at(clock, nine + week),  # skipped
            "/ritual pause weekly",
            at(clock, nine + 2 * week),  # paused
            "/ritual resume weekly",
            at(clock, nine + 3 * week),  # runs
            "/ritual show weekly",
        ],
        clock,
    )
    assert output.count("👋 ") == 2
    assert "The next round of weekly (Mon 2026-12-07 09:00) will be skipped." in output
    assert ": skipped" in output
    assert "⏸️ weekly is paused." in output


async def test_after_downtime_a_missed_round_runs_once_late_within_grace_else_is_missed(
    database_url: str, tmp_path: Path
) -> None:
    config = make_config(database_url, tmp_path)
    clock = ManualClock(MONDAY_8)
    nine = MONDAY_8 + timedelta(hours=1)
    await run_script(
        config,
        [":as cora", "/ritual add checkin here daily at 9:00 name:daily", "/ritual confirm"],
        clock,
    )
    # Down for three days; back at 10:00, one hour after today's slot (grace is 6 hours).
    clock.set(nine + timedelta(days=3, hours=1))
    back = await run_script(config, [":as cora", "/ritual show daily"], clock)
    assert back.count("👋 ") == 1
    assert "a little late: I was offline when it was due" in back
    # Down again until 20:00 the next day: 11 hours after its slot, beyond the grace.
    clock.set(nine + timedelta(days=4, hours=11))
    later = await run_script(config, [":as cora", "/ritual show daily"], clock)
    assert "👋 " not in later
    assert ": missed" in later
    assert "1 missed while offline" in later


async def test_a_failed_post_is_retried_and_shown(database_url: str, tmp_path: Path) -> None:
    """A ritual in a Matrix room while no Matrix adapter runs: every post fails, visibly."""
    clock = ManualClock(MONDAY_8)

    async def matrix_ritual(hearth: Hearth) -> None:
        community = await hearth.services.directory.community_by_slug("guild")
        assert community is not None
        await hearth.services.directory.bind_channels(
            community.id, [("matrix", "example.org", "!room:example.org")]
        )
        await hearth.services.rituals.store.create(
            community.id,
            NewRitual(
                name="matrix-daily",
                kind=RitualKind.CHECKIN,
                platform="matrix",
                space="example.org",
                channel="!room:example.org",
                schedule_text="daily at 9:00",
                cron="0 9 * * *",
                timezone="Europe/Berlin",
                window_minutes=60,
            ),
        )

    nine = MONDAY_8 + timedelta(hours=1)
    output = await run_script(
        make_config(database_url, tmp_path),
        [
            matrix_ritual,
            at(clock, nine),
            "/ritual show matrix-daily",
            at(clock, nine + timedelta(seconds=10)),  # before the backoff: no new attempt
            at(clock, nine + timedelta(minutes=5)),  # after it: a second attempt
            "/ritual show matrix-daily",
        ],
        clock,
    )
    assert (
        "pending — posting failed 1×: Transient: no matrix adapter is running; next try 08:00 UTC"
        in output
    )
    assert "posting failed 2×" in output
    assert "posting failed 3×" not in output


async def test_bad_ritual_input_is_explained(database_url: str, tmp_path: Path) -> None:
    output = await run_script(
        make_config(database_url, tmp_path),
        [
            ":as cora",
            "/ritual add meditation #general daily at 9",
            "/ritual add reflection nowhere daily at 9",
            "/ritual add reflection #random daily at 9",
            "/ritual add reflection #general every blursday at 9",
            "/ritual add reflection #general */5 * * * *",
            "/ritual add reflection #general daily at 25:00",
            "/ritual add reflection #general daily at 9 window:forever",
            "/ritual confirm",
            "/ritual show nothing",
            ":as alice",
            "/ritual add reflection #general daily at 9",
            "/ritual snooze until yesterday",
            "/ritual timezone Mars/Olympus",
        ],
    )
    assert "Start with a kind: reflection, retro, checkin, digest, custom." in output
    assert "Name the channel to post in, like #general or here." in output
    assert "#random is not one of this community's channels." in output
    assert "blursday" in output
    assert "rituals are not alarms" in output
    assert "window: should look like 90m, 12h or 2d (got 'forever')." in output
    assert "Nothing to confirm" in output
    assert "There is no ritual named 'nothing' here." in output
    assert "Only curators can use /ritual add." in output
    assert "until should be a date like 2026-12-24 (got 'yesterday')." in output
    assert "'Mars/Olympus' is not a time zone" in output


async def test_restart_mid_round_closes_it_once_with_the_replies_from_before(
    database_url: str, tmp_path: Path
) -> None:
    config = make_config(database_url, tmp_path)
    clock = ManualClock(MONDAY_8)
    nine = MONDAY_8 + timedelta(hours=1)
    before = await run_script(
        config,
        [
            ":as cora",
            "/ritual add retro here weekly on monday at 9:00 window:1d remind:off",  # 1
            "/ritual confirm",  # 2, 3
            at(clock, nine),  # 4
            ":reply 4 + the demo went well",  # 5
            ":reply 4 - too many meetings",  # 6
        ],
        clock,
    )
    assert "#4 hearth: 🔁 Retro time." in before
    clock.set(nine + timedelta(days=1, minutes=5))
    after = await run_script(config, [":as cora", "/ritual show retro"], clock)
    assert "🔁" not in after  # no second prompt after the restart
    assert "🧭 retro: round closed with 2 response(s) from cora" in after
    assert "✅ Went well (1)\n    • the demo went well — cora" in after
    assert "🔧 To improve (1)\n    • too many meetings — cora" in after


async def test_digest_lists_new_insights_by_tag(database_url: str, tmp_path: Path) -> None:
    clock = ManualClock(MONDAY_8)
    output = await run_script(
        make_config(database_url, tmp_path),
        [
            ":as cora",
            "/ritual add digest here weekly on monday at 9:00",
            "/ritual confirm",
            "/insight Small PRs get better reviews #review",
            "/insight Review the tests first #review #testing",
            at(clock, MONDAY_8 + timedelta(hours=1)),
        ],
        clock,
    )
    assert "📚 Digest: 2 new insight(s) since" in output
    assert "#review (2)" in output
    assert "#testing (1)" in output


async def test_anonymous_answers_by_direct_message_appear_without_names(
    database_url: str, tmp_path: Path
) -> None:
    clock = ManualClock(MONDAY_8)
    nine = MONDAY_8 + timedelta(hours=1)
    output = await run_script(
        make_config(database_url, tmp_path),
        [
            ":as cora",
            "/ritual add checkin here weekly on monday at 9:00 name:pulse anonymous:yes window:1d",
            "/ritual confirm",  # 2, 3
            at(clock, nine),  # 4
            ":as alice",
            "/ritual answer pulse I feel overloaded",  # 5: in public, refused
            ":dm /ritual answer pulse I feel overloaded",  # 6, posted as 7
            ":dm hello",  # 8
            at(clock, nine + timedelta(days=1)),  # synthesis
        ],
        clock,
    )
    assert "Send this to me in a direct message, so nobody sees who wrote it" in output
    assert "#7 hearth → #4: 🙈 Anonymous response: I feel overloaded" in output
    assert "your answer is in #general, without your name" in output
    assert "I only understand commands here" in output
    synthesis = output.split("🧭 pulse")[1]
    assert "from 1 member(s)" in synthesis
    assert "• anonymous: I feel overloaded" in synthesis
    assert "alice" not in synthesis


async def test_edits_deletions_and_bulb_on_responses(database_url: str, tmp_path: Path) -> None:
    clock = ManualClock(MONDAY_8)
    nine = MONDAY_8 + timedelta(hours=1)
    output = await run_script(
        make_config(database_url, tmp_path),
        [
            ":as cora",
            "/ritual add reflection here weekly on monday at 9:00 window:1d remind:off",  # 1
            "/ritual confirm",  # 2, 3
            "/ritual timezone America/New_York",  # 4
            "/ritual show reflection",  # 5
            at(clock, nine),  # 6
            ":as alice",
            ":reply 6 Draft answer",  # 7
            ":edit 7 Writing tests first saves time",
            ":reply 6 Oops, wrong thread",  # 8
            ":delete 8",
            ":as bob",
            ":react 7 💡",  # 9, captured as reply 10
            at(clock, nine + timedelta(days=1)),
        ],
        clock,
    )
    assert "09:00 CET (your time: Mon 03:00 EST)" in output
    assert "💡 Captured insight #1 from alice: “Writing tests first saves time”" in output
    synthesis = output.split("🧭 reflection")[1]
    assert "1 response(s) from alice" in synthesis
    assert "Writing tests first saves time" in synthesis
    assert "Oops" not in synthesis and "Draft" not in synthesis


async def test_snoozed_members_are_not_named_and_edit_changes_the_schedule(
    database_url: str, tmp_path: Path
) -> None:
    clock = ManualClock(MONDAY_8)
    nine = MONDAY_8 + timedelta(hours=1)
    output = await run_script(
        make_config(database_url, tmp_path),
        [
            ":as bob",
            "/ritual reminders on",
            "/ritual snooze until 2026-12-24",
            ":as carol",
            "/ritual reminders on",
            ":as cora",
            "/ritual add checkin here weekly on monday at 9:00 name:pulse window:10h",
            "/ritual confirm",
            at(clock, nine),
            at(clock, nine + timedelta(hours=8, minutes=30)),  # the reminder, at 80%
            "/ritual edit pulse every 2 weeks on friday 16:00 window:1d remind:off",
            "/ritual show pulse",
        ],
        clock,
    )
    assert "No ritual reminders for you until 2026-12-24 (inclusive)." in output
    assert "⏰ carol: about 2 hour(s) left" in output
    assert "bob, carol" not in output
    assert "✏️ pulse: every 2 weeks on Friday at 16:00 (Europe/Berlin), window 1d." in output
    assert "Window 1d, reminder off" in output
