"""``remember``: the model saves a short fact about the user to long-term
memory.

It is a side-effect tool, so the calling loop's rules apply unchanged: it
never runs without the user's confirmation, and a call proposed after the
model has read a document or a tool's output is confirmed again even when
the user allowed it for the conversation (``backend.chat.tool_loop``). It
is not one of ``builtin_tools``: the tools service offers it per turn, only
to models able to judge what is worth remembering (``[memory]
model_writes``) and never in an incognito conversation.
"""

from __future__ import annotations

from collections.abc import Callable

from backend.tools.base import Tool, ToolExample
from backend.tools.errors import ToolError
from backend.tools.function_tools import tool_from_function

Save = Callable[[str], str]
"""Saves a fact; returns what to tell the model (raises ``ValueError`` on a
bad fact)."""


def make_remember(save: Save) -> Tool:
    def remember(fact: str) -> str:
        """Save a short fact about the user to long-term memory, for later
        conversations. Only when the user asks you to remember it.

        Args:
            fact: The fact, short, about the user (e.g. "prefers metric units").
        """
        try:
            return save(fact)
        except ValueError as err:
            raise ToolError(str(err)) from None

    examples = (
        ToolExample(
            "please keep in mind for the future that I'm allergic to peanuts",
            {"fact": "The user is allergic to peanuts"},
        ),
    )
    return tool_from_function(remember, side_effects=True, timeout_s=10.0, examples=examples)
