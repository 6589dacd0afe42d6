"""The default prompt library: questions that help a community of practice learn together.

Communities add their own with `/ritual prompt add <kind> <text>`; theirs come first in
the rotation, then these.
"""

from __future__ import annotations

from knowledge.vocabulary import RitualKind

DEFAULT_PROMPTS: dict[RitualKind, tuple[str, ...]] = {
    RitualKind.REFLECTION: (
        "What is one thing you learned this week that you wish you had known a year ago?",
        "Which mistake taught you most lately? What would you tell someone about to make it?",
        "What question are you carrying right now that this community might help with?",
        "Which habit or practice made your work noticeably better lately?",
        "What did you explain to someone this week, and what did explaining it teach you?",
        "Where did you see someone in our field do something well that you want to copy?",
        "What assumption of yours turned out to be wrong recently?",
        "Which resource (talk, article, book, tool) changed how you think about your craft?",
        "What would you do differently if you started your current project again today?",
        "What small experiment could you try next week, and how will you know if it worked?",
        "Who helped you get unstuck recently, and how did they do it?",
        "What part of your work feels harder than it should be? What might make it easier?",
    ),
    RitualKind.RETRO: (
        "Retro time. Reply in this thread, one point per message:\n"
        "+ what went well\n- what to improve\n? ideas to try next",
    ),
    RitualKind.CHECKIN: (
        "Check-in: how are you doing, and what are you focusing on this week?",
        "Check-in: what is one win and one blocker since last time?",
        "Check-in: what are you learning at the moment?",
    ),
    RitualKind.CUSTOM: ("Time for our ritual: share your thoughts in this thread.",),
    RitualKind.DIGEST: (),
}


def pick_prompt(own: tuple[str, ...] | list[str], kind: RitualKind, index: int) -> str:
    """The index-th prompt of the rotation: the community's own first, then the defaults."""
    rotation: list[str] = [*own, *DEFAULT_PROMPTS.get(kind, ())]
    if not rotation:
        return ""
    return rotation[index % len(rotation)]
