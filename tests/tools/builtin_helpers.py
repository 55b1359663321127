"""Helpers for the built-in tool tests: a fixed clock, a search that must
not be called, and running a tool the way the calling loop does
(``call_tool``: schema check, worker thread, timeout)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from backend.knowledge.records import DocumentHit
from backend.tools.base import ToolOutput
from backend.tools.registry import ToolRegistry
from backend.tools.runner import call_tool

FIXED_NOW = datetime(2024, 7, 1, 12, 0, 0, tzinfo=UTC)


def no_search(query: str, k: int) -> Sequence[DocumentHit]:
    raise AssertionError("not expected to search")


def run(registry: ToolRegistry, name: str, **arguments: Any) -> ToolOutput:
    tool = registry.get(name)
    assert tool is not None
    return call_tool(tool, arguments)


def ok(out: ToolOutput) -> str:
    assert out.error is None, out.error
    return out.text


def error(out: ToolOutput) -> str:
    assert out.error is not None, f"expected an error, got {out.text!r}"
    return out.error
