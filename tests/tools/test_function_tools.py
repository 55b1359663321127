"""Tools from functions: schemas derived from type hints and docstrings,
plain enough for llama.cpp's grammar, and the functions and names that
cannot be tools."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel

from backend.tools.base import ToolExample
from backend.tools.errors import InvalidToolError, check_name
from backend.tools.function_tools import parse_docstring, plain_schema, tool_from_function
from tests.tools.sample_tool import sample


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
