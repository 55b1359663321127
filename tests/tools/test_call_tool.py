"""Running a tool: validation on every call, and ``call_tool`` never
raising (bad arguments, timeouts, cancels, exceptions)."""

from __future__ import annotations

import threading
import time
from typing import Any

from backend.common.errors import AssistantError
from backend.tools.base import Tool, ToolOutput
from backend.tools.errors import ToolError
from backend.tools.function_tools import tool_from_function
from backend.tools.runner import call_tool
from tests.tools.sample_tool import sample


def test_run_validates_every_call() -> None:
    tool = tool_from_function(sample)
    out = tool.run({"title": "t", "count": 3, "mode": "careful", "where": {"x": 1}})
    assert out == ToolOutput(text="t|3|careful|red|1,0|")
    # run is given unchecked arguments here: pydantic still refuses them
    bad = tool.run({"title": "t", "count": 99})
    assert bad.error is not None and "count" in bad.error and "20" in bad.error
    missing = tool.run({})
    assert missing.error is not None and "title" in missing.error
    extra = tool.run({"title": "t", "colour_name": "red"})
    assert extra.error is not None and "colour_name" in extra.error
    # a parameter whose name shadows a BaseModel attribute works
    assert tool.run({"title": "t", "json": "j"}).text.endswith("|j")


def test_return_values_and_tool_errors() -> None:
    def gives_output(flag: bool) -> ToolOutput:
        """Structured."""
        return ToolOutput(text="yes", data={"flag": flag})

    def refuses(reason: str) -> str:
        """Refuses."""
        raise ToolError(f"no, because {reason}")

    def gives_number() -> int:
        """Wrong type."""
        return 3

    assert tool_from_function(gives_output).run({"flag": True}).data == {"flag": True}
    assert tool_from_function(refuses).run({"reason": "x"}) == ToolOutput(error="no, because x")
    assert "int" in (tool_from_function(gives_number).run({}).error or "")
    assert issubclass(ToolError, AssistantError)


def test_call_tool_names_the_bad_field() -> None:
    tool = tool_from_function(sample)
    out = call_tool(tool, {"title": "t", "count": "three"})
    assert out.error is not None
    assert out.error.startswith("invalid arguments for sample: count:")
    assert "integer" in out.error
    out = call_tool(tool, {"title": "t", "mode": "sloppy"})
    assert out.error is not None and "mode:" in out.error and "'sloppy'" in out.error
    out = call_tool(tool, {"count": 2})
    assert out.error is not None and "'title' is a required property" in out.error
    out = call_tool(tool, {"title": "t", "bogus": 1})
    assert out.error is not None and "'bogus' was unexpected" in out.error
    out = call_tool(tool, ["t"])  # type: ignore[arg-type]
    assert out.error == "invalid arguments for sample: expected a JSON object"
    assert call_tool(tool, {"title": "ok"}).text == "ok|5|fast|red|-|"


def mcp_tool(run: Any, schema: dict[str, Any] | None = None, timeout_s: float = 5.0) -> Tool:
    """A tool as an MCP server would describe it: only a JSON schema."""
    return Tool(
        name="srv.lookup",
        description="Look something up.",
        parameters=schema
        or {
            "type": "object",
            "properties": {
                "id": {"type": "integer", "minimum": 1},
                "tags": {"type": "array", "items": {"type": "string"}},
            },
            "required": ["id"],
        },
        run=run,
        timeout_s=timeout_s,
        origin="mcp",
        source="srv",
    )


def test_call_tool_validates_mcp_schemas_with_jsonschema() -> None:
    seen: list[dict[str, Any]] = []

    def run(arguments: dict[str, Any]) -> ToolOutput:
        seen.append(arguments)
        return ToolOutput(text="found")

    tool = mcp_tool(run)
    assert call_tool(tool, {"id": 3, "tags": ["a"]}).text == "found"
    out = call_tool(tool, {"id": 0})
    assert out.error is not None and "id: 0 is less than the minimum of 1" in out.error
    out = call_tool(tool, {"id": 2, "tags": ["a", 5]})
    assert out.error is not None and "tags.1: 5 is not of type 'string'" in out.error
    assert seen == [{"id": 3, "tags": ["a"]}]  # refused calls never reached the tool


def test_call_tool_with_a_broken_schema() -> None:
    tool = mcp_tool(lambda a: ToolOutput(text="x"), schema={"type": "object", "minProperties": "x"})
    out = call_tool(tool, {})
    assert out.error is not None and "invalid argument schema" in out.error


def test_long_values_are_cut_in_messages() -> None:
    tool = mcp_tool(lambda a: ToolOutput(text="x"))
    out = call_tool(tool, {"id": "x" * 5000})
    assert out.error is not None and len(out.error) < 400


def test_call_tool_turns_exceptions_into_errors() -> None:
    def run(arguments: dict[str, Any]) -> ToolOutput:
        raise ValueError("boom")

    assert call_tool(mcp_tool(run), {"id": 1}) == ToolOutput(error="ValueError: boom")

    def leaves(arguments: dict[str, Any]) -> ToolOutput:
        raise SystemExit(3)

    assert call_tool(mcp_tool(leaves), {"id": 1}) == ToolOutput(error="SystemExit: 3")


def test_call_tool_times_out() -> None:
    release = threading.Event()

    def run(arguments: dict[str, Any]) -> ToolOutput:
        release.wait(10)
        return ToolOutput(text="late")

    started = time.monotonic()
    out = call_tool(mcp_tool(run, timeout_s=0.2), {"id": 1})
    elapsed = time.monotonic() - started
    release.set()
    assert out == ToolOutput(error="timed out after 0.2 s")
    assert 0.15 < elapsed < 2


def test_call_tool_cancel() -> None:
    release = threading.Event()
    started_running = threading.Event()

    def run(arguments: dict[str, Any]) -> ToolOutput:
        started_running.set()
        release.wait(10)
        return ToolOutput(text="late")

    cancel = threading.Event()
    threading.Timer(0.1, cancel.set).start()
    started = time.monotonic()
    out = call_tool(mcp_tool(run, timeout_s=30), {"id": 1}, cancel)
    release.set()
    assert out == ToolOutput(error="cancelled")
    assert started_running.is_set()
    assert time.monotonic() - started < 2
    # already cancelled: the tool never starts
    ran: list[bool] = []
    out = call_tool(mcp_tool(lambda a: ran.append(True) or ToolOutput()), {"id": 1}, cancel)
    assert out.error == "cancelled" and not ran


def test_call_tool_runs_in_a_worker_thread() -> None:
    names: list[str] = []

    def run(arguments: dict[str, Any]) -> ToolOutput:
        names.append(threading.current_thread().name)
        return ToolOutput(text="ok")

    assert call_tool(mcp_tool(run), {"id": 1}).ok
    assert names == ["tool-srv.lookup"]
