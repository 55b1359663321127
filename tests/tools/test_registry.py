"""The registry: schemas derived from functions, validation on every call,
``call_tool`` never raising (bad arguments, timeouts, cancels, exceptions),
and the registry's names, order and filters."""

from __future__ import annotations

import json
import threading
import time
from enum import Enum
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, Field

from backend.errors import AssistantError, NotFoundError
from backend.tools.base import Tool, ToolCall, ToolExample, ToolOutput
from backend.tools.registry import (
    InvalidToolError,
    ToolError,
    ToolRegistry,
    call_tool,
    check_name,
    parse_docstring,
    plain_schema,
    tool_from_function,
)


class Colour(Enum):
    RED = "red"
    BLUE = "blue"


class Point(BaseModel):
    x: int
    y: int = 0


def sample(
    title: str,
    count: Annotated[int, Field(ge=1, le=20)] = 5,
    mode: Literal["fast", "careful"] = "fast",
    colour: Colour = Colour.RED,
    where: Point | None = None,
    json: str = "",
) -> str:
    """Do a sample thing.

    This second paragraph is not part of the description.

    Args:
        title: The title of the thing,
            which goes on for two lines.
        count: How many (1 to 20).
        mode: How to go about it.

    Returns:
        A summary.
    """
    point = f"{where.x},{where.y}" if where else "-"
    return f"{title}|{count}|{mode}|{colour.value}|{point}|{json}"


def walk_keys(node: Any) -> list[str]:
    """Every dict key anywhere in ``node`` (property names included)."""
    if isinstance(node, dict):
        return [k for k in node] + [k for v in node.values() for k in walk_keys(v)]
    if isinstance(node, list):
        return [k for v in node for k in walk_keys(v)]
    return []


def schema_nodes(node: Any) -> list[dict[str, Any]]:
    """The dicts of ``node`` that are schemas (not ``properties`` maps)."""
    out = [node]
    for key, value in node.items():
        if key == "properties":
            for sub in value.values():
                out += schema_nodes(sub)
        elif key in ("anyOf", "oneOf", "allOf") or (key == "items" and isinstance(value, list)):
            for sub in value:
                out += schema_nodes(sub)
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out += schema_nodes(value)
    return out


# -- schema ---------------------------------------------------------------------------


def test_schema_from_type_hints_and_docstring() -> None:
    tool = tool_from_function(sample)
    s = tool.parameters
    assert tool.name == "sample"
    assert tool.description == "Do a sample thing."
    assert list(s) == ["type", "properties", "required", "additionalProperties"]
    assert s["type"] == "object"
    assert s["additionalProperties"] is False
    assert s["required"] == ["title"]
    props = s["properties"]
    assert list(props) == ["title", "count", "mode", "colour", "where", "json"]
    assert props["title"] == {
        "type": "string",
        "description": "The title of the thing, which goes on for two lines.",
    }
    assert props["count"]["type"] == "integer"
    assert (props["count"]["minimum"], props["count"]["maximum"]) == (1, 20)
    assert props["count"]["description"] == "How many (1 to 20)."
    assert props["mode"]["enum"] == ["fast", "careful"]
    assert props["colour"]["enum"] == ["red", "blue"]  # an Enum class, inlined
    assert "description" not in props["json"]  # not in Args:


def test_schema_is_plain_for_the_grammar() -> None:
    s = tool_from_function(sample).parameters
    keys = walk_keys(s)
    assert "$ref" not in keys and "$defs" not in keys
    # pydantic's titles are gone, but a property called "title" stays
    assert all("title" not in node for node in schema_nodes(s))
    assert "title" in s["properties"]
    point = next(o for o in s["properties"]["where"]["anyOf"] if o.get("type") == "object")
    assert point["properties"] == {"x": {"type": "integer"}, "y": {"default": 0, "type": "integer"}}
    assert point["required"] == ["x"]


def test_schema_compiles_to_a_llama_cpp_grammar() -> None:
    from llama_cpp.llama_grammar import LlamaGrammar, json_schema_to_gbnf

    gbnf = json_schema_to_gbnf(json.dumps(tool_from_function(sample).parameters))
    assert '"\\"careful\\""' in gbnf  # the Literal became alternatives
    assert LlamaGrammar.from_string(gbnf, verbose=False) is not None


def test_plain_schema_keeps_data_verbatim_and_merges_ref_siblings() -> None:
    schema = {
        "type": "object",
        "title": "Args",
        "properties": {
            "a": {"$ref": "#/$defs/A", "description": "the a", "default": {"title": "kept"}},
        },
        "$defs": {
            "A": {"title": "A", "type": "object", "properties": {"title": {"type": "string"}}}
        },
    }
    out = plain_schema(schema)
    assert out == {
        "type": "object",
        "properties": {
            "a": {
                "type": "object",
                "properties": {"title": {"type": "string"}},
                "description": "the a",
                "default": {"title": "kept"},
            }
        },
    }


class Node(BaseModel):
    value: int
    children: list[Node] = []


def test_recursive_type_is_refused() -> None:
    def tree(root: Node) -> str:
        """Walk a tree."""
        return ""

    with pytest.raises(InvalidToolError, match="recursive type"):
        tool_from_function(tree)


def test_functions_that_cannot_be_tools() -> None:
    def untyped(x) -> str:  # type: ignore[no-untyped-def]
        """No hint."""
        return ""

    def varargs(*items: str) -> str:
        """Star args."""
        return ""

    with pytest.raises(InvalidToolError, match="'x' needs a type hint"):
        tool_from_function(untyped)
    with pytest.raises(InvalidToolError, match=r"\*args"):
        tool_from_function(varargs)
    with pytest.raises(InvalidToolError, match="invalid tool name"):
        tool_from_function(sample, name="Sample-Tool")
    with pytest.raises(InvalidToolError, match="example 'bad'"):
        tool_from_function(sample, examples=[ToolExample("bad", {"count": 3})])


def test_options_reach_the_tool() -> None:
    examples = [ToolExample("do it", {"title": "t"})]
    tool = tool_from_function(
        sample,
        name="other",
        description="Overridden.",
        side_effects=True,
        timeout_s=3.5,
        examples=examples,
    )
    assert (tool.name, tool.description, tool.side_effects, tool.timeout_s) == (
        "other",
        "Overridden.",
        True,
        3.5,
    )
    assert tool.examples == tuple(examples)
    assert (tool.origin, tool.source) == ("builtin", "builtin")


def test_parse_docstring_sections() -> None:
    doc = """Summary line
    continues here.

    Args:
        a (int): First.
        b: Second,
            more about b.
            c: not a parameter, just indented prose.
        *rest: Star.

    Raises:
        ValueError: never listed as a parameter.
    """
    summary, args = parse_docstring(doc)
    assert summary == "Summary line continues here."
    assert args == {
        "a": "First.",
        "b": "Second, more about b. c: not a parameter, just indented prose.",
        "rest": "Star.",
    }
    assert parse_docstring(None) == ("", {})


@pytest.mark.parametrize("name", ["calculator", "read_document", "github.search_issues", "a1_b"])
def test_good_names(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "Calculator", "1tool", "a-b", "a.b.c", "a.", ".a", "a b", "_private", "a.B"]
)
def test_bad_names(name: str) -> None:
    with pytest.raises(InvalidToolError):
        check_name(name)


# -- running --------------------------------------------------------------------------


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


# -- the registry -----------------------------------------------------------------------


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
