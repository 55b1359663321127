"""The registry: its names, order and filters, and calls through it."""

from __future__ import annotations

from typing import Literal

import pytest

from backend.common.errors import NotFoundError
from backend.tools.base import Tool, ToolCall, ToolOutput
from backend.tools.errors import InvalidToolError
from backend.tools.function_tools import tool_from_function
from backend.tools.registry import ToolRegistry
from tests.tools.sample_tool import sample


def named(name: str, origin: Literal["builtin", "mcp"] = "builtin", source: str = "") -> Tool:
    return Tool(
        name=name,
        description=name,
        parameters={"type": "object", "properties": {}},
        run=lambda a: ToolOutput(text=name),
        origin=origin,
        source=source or origin,
    )


def test_registry_rejects_duplicates_and_bad_names() -> None:
    registry = ToolRegistry([named("calculator")])
    with pytest.raises(InvalidToolError, match="'calculator' is already registered"):
        registry.register(named("calculator", "mcp", "srv"))
    replacement = named("calculator", "mcp", "srv")
    registry.register(replacement, replace=True)
    assert registry.get("calculator") is replacement
    with pytest.raises(InvalidToolError, match="invalid tool name"):
        registry.register(named("Bad Name"))
    assert len(registry) == 1


def test_registry_order_is_stable() -> None:
    registry = ToolRegistry()
    for tool in [
        named("zeta.search", "mcp", "zeta"),
        named("search_documents"),
        named("alpha.fetch", "mcp", "alpha"),
        named("calculator"),
        named("alpha.add", "mcp", "alpha"),
    ]:
        registry.register(tool)
    # built-ins as registered, then MCP tools by name
    expected = ["search_documents", "calculator", "alpha.add", "alpha.fetch", "zeta.search"]
    assert registry.names() == expected
    assert [t.name for t in registry.tools()] == expected


def test_registry_filters() -> None:
    registry = ToolRegistry(
        [
            named("calculator"),
            named("save_note"),
            named("gh.issues", "mcp", "gh"),
            named("gh.pr", "mcp", "gh"),
        ]
    )
    assert [t.name for t in registry.tools(enabled={"calculator", "gh.pr"})] == [
        "calculator",
        "gh.pr",
    ]
    assert [t.name for t in registry.tools(disabled=["save_note", "gh.*"])] == ["calculator"]
    # disabled wins over enabled
    assert registry.tools(enabled={"save_note"}, disabled=["save_note"]) == []
    assert registry.tools(enabled=set()) == []


def test_registry_unregister() -> None:
    registry = ToolRegistry(
        [named("calculator"), named("gh.issues", "mcp", "gh"), named("gh.pr", "mcp", "gh")]
    )
    assert registry.unregister("calculator").name == "calculator"
    assert "calculator" not in registry and registry.get("calculator") is None
    with pytest.raises(NotFoundError, match="no tool named 'calculator'"):
        registry.unregister("calculator")
    assert sorted(t.name for t in registry.unregister_source("gh")) == ["gh.issues", "gh.pr"]
    assert len(registry) == 0


def test_registry_call() -> None:
    registry = ToolRegistry([tool_from_function(sample)])
    result = registry.call(ToolCall("sample", {"title": "x"}, call_id="c1"))
    assert result.output.text == "x|5|fast|red|-|"
    assert result.call.call_id == "c1" and result.ms >= 0 and result.approved is None
    unknown = registry.call(ToolCall("nope", {}))
    assert unknown.output.error == "unknown tool 'nope' (available: sample)"
