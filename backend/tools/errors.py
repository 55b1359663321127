"""The errors a tool raises or building one raises, and the rule a tool
name follows (``check_name``, which raises the second kind)."""

from __future__ import annotations

import re

from backend.common.errors import AssistantError

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)?$")
"""A tool name: ``snake_case``, or ``server.tool`` for MCP tools."""


class ToolError(AssistantError):
    """A tool refusing or failing in a way its message explains (a path
    outside the folders, a bad expression, an unknown time zone). Raised in
    a tool function, it becomes ``ToolOutput(error=message)`` as it is."""

    title = "Tool failed"


class InvalidToolError(AssistantError, ValueError):
    """A tool cannot be built or registered: a bad name, a duplicate name,
    a parameter without a type hint."""

    title = "Tool problem"


def check_name(name: str) -> str:
    """``name`` itself, or ``InvalidToolError`` saying what a name must be."""
    if not NAME_PATTERN.match(name):
        raise InvalidToolError(
            f"invalid tool name {name!r}: use lower-case letters, digits and '_',"
            " starting with a letter (MCP tools: 'server.tool')"
        )
    return name
