"""What a tool is, for the registry, the calling loop and the UI.

A tool is a Python callable with type hints and a docstring (built-ins), or
a remote tool an MCP server describes (its JSON schema given). Either way
it becomes a ``Tool``: a name the model picks from an enum, a JSON schema
for its arguments (validated on every call), whether it has side effects
(then it never runs without the user's approval), a timeout, and a
``run(arguments) -> ToolOutput`` that is blocking (the loop runs it in a
worker thread with the timeout).

Errors inside a tool are not exceptions to the loop: ``ToolOutput.error``
carries a short message the model sees as the result, so it can recover.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

Origin = Literal["builtin", "mcp"]


@dataclass(frozen=True)
class ToolOutput:
    """What a call returned: ``text`` is shown to the model (and the user);
    ``error`` is set instead when the call failed (bad arguments, timeout,
    a confined path, an exception in the tool)."""

    text: str = ""
    error: str | None = None
    data: Any = None
    """Structured result for the UI/JSON output (optional)."""

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class ToolExample:
    """A request this tool serves and the arguments it takes for it: shown
    to small models as a worked example and used by the router."""

    request: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Tool:
    """One callable tool as the model and the UI see it."""

    name: str
    """Unique; ``[a-z][a-z0-9_.]*``. MCP tools are ``server.tool``."""
    description: str
    """One or two sentences, shown to the model and in the UI."""
    parameters: dict[str, Any]
    """JSON schema of the arguments object (``type: object``)."""
    run: Callable[[dict[str, Any]], ToolOutput] = field(repr=False, compare=False)
    """Runs the tool on validated arguments. Blocking."""
    side_effects: bool = False
    """True: never runs without the user's confirmation."""
    timeout_s: float = 10.0
    origin: Origin = "builtin"
    source: str = ""
    """Where it comes from: ``builtin`` or the MCP server's name."""
    examples: tuple[ToolExample, ...] = ()
    """Worked examples (built-ins have some; MCP tools usually none)."""
    span_arguments: frozenset[str] = frozenset()
    """String arguments whose value is words of the user's request (a search
    query, a file path, a note's text): the decision offers the request's
    word spans as an enum, so a small model picks one instead of writing
    (and inventing) one."""
    span_check: Callable[[str], str | None] | None = None
    """When set, the spans offered are those it accepts (it returns their
    canonical form, or None to refuse), the shortest per canonical form and
    none whose form lies inside a longer one's: the calculator offers
    ``square root of 1764`` (not ``1764``, nor ``what's the square root of
    1764``). No accepted span means the request has nothing for this tool,
    so it is not offered at all."""


@dataclass(frozen=True)
class ToolCall:
    """A call the model proposed (arguments already parsed from JSON)."""

    name: str
    arguments: dict[str, Any]
    call_id: str = ""


@dataclass(frozen=True)
class ToolResult:
    """A call that ran (or was refused), for the transcript and the log."""

    call: ToolCall
    output: ToolOutput
    ms: float
    approved: bool | None = None
    """None: needed no approval; True/False: the user's answer."""
