"""Constellation relays between two communities on the console, on SQLite and PostgreSQL.

Everything goes through the console adapter and the command table, as people would use
it: invite/accept, /relay, replies both ways, edits, deletions, pause, leave, status.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from tests.harness.config_builder import FORGE, MILL
from tests.harness.console_harness import Step, drain, line, make_config, run_script
from tests.harness.relay_steps import config_for, id_of, in_channel, link_steps, transcript


async def test_thread_relays_both_ways_with_edits_and_deletes(
    database_url: str, tmp_path: Path
) -> None:
    config = config_for(database_url, tmp_path)
    out = io.StringIO()
    steps: list[Step] = [
        *link_steps(out),
        "How do you test **async** code? @everyone",
        line(lambda: f":reply {id_of(out, 'alice', 'How do you test')} /relay"),
        drain,
        ":as fran",
        ":channel hall",
        line(
            lambda: (
                f":reply {id_of(out, 'alice (The Guild) via hearth', 'How do you')} "
                "pytest-asyncio, and no sleeps"
            )
        ),
        drain,
        ":channel general",
        ":as bob",
        line(lambda: f":reply {id_of(out, 'alice', 'How do you test')} Against real servers"),
        drain,
        line(lambda: f":edit {id_of(out, 'bob', 'Against real servers')} Against real peers"),
        drain,
        line(lambda: f":delete {id_of(out, 'bob', 'Against real servers')}"),
        drain,
    ]
    await run_script(config, steps, out=out)

    hall = in_channel(tmp_path, "hall")
    copies = [m for m in hall if m["user"] == "hearth" and m["shown_as"]]
    assert [m["shown_as"] for m in copies] == ["alice (The Guild)"]
    root_copy = copies[0]
    assert "How do you test async code?" in root_copy["text"]
    assert "@everyone" not in root_copy["text"].replace("@\u200beveryone", "")
    assert "console://local/general/" in root_copy["text"]  # a link to the original
    # Fran's reply came back into the original thread, attributed
    general = in_channel(tmp_path, "general")
    root = next(m for m in general if m["text"].startswith("How do you test"))
    back = [m for m in general if m["shown_as"] == "fran (The Forge)"]
    assert len(back) == 1 and back[0]["reply_to"] == root["id"]
    assert back[0]["text"].startswith("pytest-asyncio, and no sleeps")
    # Bob's reply was copied, edited in place, then deleted there too
    everything = transcript(tmp_path)
    bobs = [m for m in everything if m["shown_as"] == "bob (The Guild)"]
    assert len(bobs) == 1
    assert bobs[0]["text"].startswith("Against real peers") and bobs[0]["deleted"]
    assert bobs[0]["reply_to"] == root_copy["id"]
    # the /relay command itself and Hearth's replies were not relayed
    assert not any("/relay" in m["text"] or "Relaying" in m["text"] for m in copies + back)


async def test_no_relay_without_consent_pause_and_leave(database_url: str, tmp_path: Path) -> None:
    config = config_for(database_url, tmp_path)
    out = io.StringIO()
    steps: list[Step] = [
        "Unlinked question",
        line(lambda: f":reply {id_of(out, 'alice', 'Unlinked question')} /relay"),
        *link_steps(out),
        "Linked question",
        line(lambda: f":reply {id_of(out, 'alice', 'Linked question')} /relay"),
        drain,
        ":as steve",
        "/constellation pause forge",
        ":as alice",
        line(lambda: f":reply {id_of(out, 'alice', 'Linked question')} said while paused"),
        drain,
        ":as steve",
        "/constellation resume forge",
        ":as alice",
        line(lambda: f":reply {id_of(out, 'alice', 'Linked question')} said after resuming"),
        drain,
        ":as fran",
        ":channel hall",
        "/constellation leave guild",
        ":channel general",
        ":as alice",
        line(lambda: f":reply {id_of(out, 'alice', 'Linked question')} said after leaving"),
        drain,
        "/relay status",
    ]
    printed = await run_script(config, steps, out=out)

    assert "No linked community can receive this" in printed
    hall_texts = [m["text"] for m in in_channel(tmp_path, "hall") if m["shown_as"]]
    assert any(t.startswith("Linked question") for t in hall_texts)
    assert any(t.startswith("said after resuming") for t in hall_texts)
    assert not any(
        "Unlinked" in t or "while paused" in t or "after leaving" in t for t in hall_texts
    )
    assert (
        "Left the link with **The Guild**" in printed or "Left the link with The Guild" in printed
    )


async def test_invitation_codes_are_one_time_and_steward_only(
    database_url: str, tmp_path: Path
) -> None:
    config = config_for(database_url, tmp_path)
    out = io.StringIO()

    def code() -> str:
        return re.findall(r"HL-[A-Z0-9-]+", out.getvalue())[-1]

    steps: list[Step] = [
        "/constellation invite",  # alice is a member, not a steward
        ":as steve",
        "/constellation invite",
        line(lambda: f"/constellation accept {code()}"),  # own community's code
        ":as fran",
        ":channel hall",
        line(lambda: f"/constellation accept {code()}"),
        line(lambda: f"/constellation accept {code()}"),  # second use
        "/constellation accept HL-NOPE-NOPE-NOPE",
        "/constellation list",
    ]
    printed = await run_script(config, steps, out=out)
    assert "Only stewards can use /constellation invite" in printed
    assert "That invitation came from this community" in printed
    assert printed.count("Linked with The Guild") == 1
    assert printed.count("That invitation code is not valid") == 2
    assert "The Guild (guild)" in printed and "active; both ways" in printed


@pytest.mark.parametrize("hostile", ["<!channel> hi @here", "@room <script>x</script>"])
async def test_mass_mentions_never_pass(database_url: str, tmp_path: Path, hostile: str) -> None:
    config = config_for(database_url, tmp_path)
    out = io.StringIO()
    steps: list[Step] = [
        *link_steps(out),
        hostile,
        line(lambda: f":reply {id_of(out, 'alice', hostile[:5])} /relay"),
        drain,
    ]
    await run_script(config, steps, out=out)
    (copy,) = [m for m in in_channel(tmp_path, "hall") if m["shown_as"]]
    for mass in ("@here", "@room", "@everyone", "@channel"):
        assert mass not in copy["text"]


async def test_scope_whole_channel_and_one_way(database_url: str, tmp_path: Path) -> None:
    """mode:channel relays every new thread without /relay; direction:send on the Guild's
    side means the Forge's replies stay in the Forge."""
    config = config_for(database_url, tmp_path)
    out = io.StringIO()
    steps: list[Step] = [
        *link_steps(out),
        ":as steve",
        "/constellation scope forge mode:channel direction:send",
        ":as alice",
        "Automatically shared",
        drain,
        ":as fran",
        ":channel hall",
        line(
            lambda: (
                f":reply {id_of(out, 'alice (The Guild) via hearth', 'Automatically')} stays here"
            )
        ),
        drain,
        "/constellation list",
    ]
    printed = await run_script(config, steps, out=out)
    assert "every thread of the channel" in printed and "we receive only" in printed
    hall = [m for m in in_channel(tmp_path, "hall") if m["shown_as"]]
    assert [m["text"].split("\n")[0] for m in hall] == ["Automatically shared"]
    general = [m for m in in_channel(tmp_path, "general") if m["shown_as"]]
    assert general == []  # the Forge's reply did not flow back


def test_relay_payload_carries_attachments_as_links() -> None:
    from bot.events import Attachment, ChannelRef, ChatMessage, MessageRef, UserRef
    from bot.relay.payload import outbound, payload_of
    from bot.text import to_slack

    message = ChatMessage(
        MessageRef(ChannelRef("discord", "g", "c"), "1"),
        UserRef("discord", "9", "Ada"),
        "see the **plan** @everyone",
        permalink="https://discord.com/channels/g/c/1",
        markup="see the **plan** @everyone",
        attachments=(Attachment("plan.pdf", "https://cdn.example/plan.pdf", 2_400_000),),
    )
    copy = outbound(payload_of(message, "Rust Berlin"), "post:1:2", maybe_posted=False)
    assert copy.attribution is not None and copy.attribution.author == "Ada"
    rendered = to_slack(copy.relay_document(), for_relay=True)
    assert "*plan*" in rendered
    assert "<https://cdn.example/plan.pdf|plan.pdf> (2.3 MB)" in rendered
    assert "@everyone" not in rendered.replace("@\u200beveryone", "")


async def test_an_invitation_made_for_one_community_cannot_be_taken_by_another(
    database_url: str, tmp_path: Path
) -> None:
    config = make_config(database_url, tmp_path, others=(FORGE, MILL))
    out = io.StringIO()

    def code() -> str:
        return re.findall(r"HL-[A-Z0-9-]+", out.getvalue())[-1]

    steps: list[Step] = [
        ":as steve",
        "/constellation invite for:forge",
        ":as milo",
        ":channel yard",
        line(lambda: f"/constellation accept {code()}"),
        ":as fran",
        ":channel hall",
        line(lambda: f"/constellation accept {code()}"),
    ]
    printed = await run_script(config, steps, out=out)
    assert "It can only be accepted by forge" in printed
    assert "That invitation is meant for another community" in printed
    assert printed.count("Linked with The Guild") == 1
