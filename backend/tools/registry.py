"""The set of tools a conversation can offer: ``ToolRegistry``.

Tools come from ``backend.tools.function_tools`` (built-ins) and
``backend.tools.mcp_client`` (MCP servers); a call goes through
``backend.tools.runner.call_tool``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from fnmatch import fnmatchcase

from backend.common.errors import NotFoundError
from backend.tools.base import Tool, ToolCall, ToolOutput, ToolResult
from backend.tools.errors import InvalidToolError, check_name
from backend.tools.runner import call_tool


class ToolRegistry:
    """The tools that can be offered to a model, by unique name.

    Thread-safe (MCP servers register their tools from their own threads).
    ``tools()`` lists built-ins in the order they were registered, then MCP
    tools sorted by name, so the tool list in the prompt stays byte-identical
    from turn to turn whatever order servers connected in.
    """

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        self._lock = threading.Lock()
        for tool in tools:
            self.register(tool)

    def register(self, tool: Tool, *, replace: bool = False) -> Tool:
        """Add ``tool``; a second tool of the same name is an
        ``InvalidToolError`` unless ``replace``."""
        check_name(tool.name)
        with self._lock:
            old = self._tools.get(tool.name)
            if old is not None and not replace:
                raise InvalidToolError(
                    f"a tool named {tool.name!r} is already registered"
                    f" (from {old.source or old.origin})"
                )
            self._tools[tool.name] = tool
        return tool

    def unregister(self, name: str) -> Tool:
        with self._lock:
            tool = self._tools.pop(name, None)
        if tool is None:
            raise NotFoundError(f"no tool named {name!r}")
        return tool

    def unregister_source(self, source: str) -> list[Tool]:
        """Remove every tool from ``source`` (an MCP server that went away)."""
        with self._lock:
            gone = [t for t in self._tools.values() if t.source == source]
            for tool in gone:
                del self._tools[tool.name]
        return gone

    def get(self, name: str) -> Tool | None:
        with self._lock:
            return self._tools.get(name)

    def __contains__(self, name: object) -> bool:
        with self._lock:
            return name in self._tools

    def __len__(self) -> int:
        with self._lock:
            return len(self._tools)

    def names(self) -> list[str]:
        return [t.name for t in self.tools()]

    def tools(self, enabled: set[str] | None = None, disabled: Iterable[str] = ()) -> list[Tool]:
        """The tools to offer, in a stable order.

        Args:
            enabled: Names to keep (None: all).
            disabled: Names or shell-style patterns (``github.*``) to leave
                out, e.g. ``[tools] disabled``; they win over ``enabled``.
        """
        blocked = list(disabled)
        with self._lock:
            everything = list(self._tools.values())
        builtin = [t for t in everything if t.origin == "builtin"]
        remote = sorted((t for t in everything if t.origin != "builtin"), key=lambda t: t.name)
        return [
            t
            for t in builtin + remote
            if (enabled is None or t.name in enabled)
            and not any(fnmatchcase(t.name, pattern) for pattern in blocked)
        ]

    def call(self, call: ToolCall, cancel: threading.Event | None = None) -> ToolResult:
        """Run a proposed call (approval is the caller's business) and time it."""
        started = time.perf_counter()
        tool = self.get(call.name)
        if tool is None:
            known = ", ".join(self.names()) or "none"
            output = ToolOutput(error=f"unknown tool {call.name!r} (available: {known})")
        else:
            output = call_tool(tool, call.arguments, cancel)
        return ToolResult(call=call, output=output, ms=(time.perf_counter() - started) * 1000)
