"""Tools derived from typed, documented Python functions.

``tool_from_function`` derives a tool from a typed, documented function:
the argument schema from its type hints (through a pydantic model that also
validates every call), the description from the docstring's first
paragraph, each argument's description from its Google-style ``Args:``
section. The schema is plain JSON schema (no ``$ref``, no titles,
``additionalProperties: false``) because llama.cpp turns it into a grammar
that constrains what the model may write.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from backend.common.errors import AssistantError
from backend.tools.base import Tool, ToolExample, ToolOutput
from backend.tools.errors import InvalidToolError, check_name
from backend.tools.runner import argument_errors, as_output, shorten

# -- docstrings ---------------------------------------------------------------

_ARGS_HEADERS = ("args:", "arguments:", "parameters:", "params:")
_ARG_LINE = re.compile(r"^(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


def _collapse(lines: Iterable[str]) -> str:
    return " ".join(" ".join(lines).split())


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """(first paragraph, {argument: description}) of a Google-style docstring.

    Argument descriptions may continue on more-indented lines; the ``Args:``
    section ends at the next line indented no deeper than its header.
    """
    if not doc:
        return "", {}
    lines = inspect.cleandoc(doc).splitlines()
    summary: list[str] = []
    for line in lines:
        if not line.strip() or line.strip().lower() in _ARGS_HEADERS:
            break
        summary.append(line)
    args: dict[str, list[str]] = {}
    section_indent: int | None = None
    current: str | None = None
    arg_indent = 0
    for line in lines:
        indent = len(line) - len(line.lstrip())
        if section_indent is None:
            if line.strip().lower() in _ARGS_HEADERS:
                section_indent = indent
            continue
        if not line.strip():
            continue
        if indent <= section_indent:
            break  # Returns:, Raises:, or prose after the section
        match = _ARG_LINE.match(line.strip())
        if match and (current is None or indent <= arg_indent):
            current = match.group(1).lstrip("*")
            arg_indent = indent
            args[current] = [match.group(2)]
        elif current is not None:
            args[current].append(line.strip())
    return _collapse(summary), {k: _collapse(v) for k, v in args.items()}


# -- JSON schema for llama.cpp's grammar ----------------------------------------

_VERBATIM = frozenset({"default", "enum", "const", "examples", "required"})
"""Keywords whose values are data, not schemas: copied without cleaning."""
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "dependentSchemas"})
"""Keywords whose values map names to schemas: the names are kept as they are
(a property may well be called ``title``)."""


def plain_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with every ``$ref`` inlined, ``$defs`` and pydantic's
    ``title`` keys dropped. Raises ``InvalidToolError`` for a recursive
    type (a grammar cannot inline it)."""
    defs: dict[str, Any] = dict(schema.get("$defs", {}))
    defs.update(schema.get("definitions", {}))

    def walk(node: Any, seen: frozenset[str]) -> Any:
        if isinstance(node, list):
            return [walk(item, seen) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            ref = str(node["$ref"])
            name = ref.rsplit("/", 1)[-1]
            if not ref.startswith(("#/$defs/", "#/definitions/")) or name not in defs:
                raise InvalidToolError(f"cannot inline the schema reference {ref!r}")
            if name in seen:
                raise InvalidToolError(f"recursive type {name!r} cannot be a tool argument")
            target = walk(defs[name], seen | {name})
            siblings = walk({k: v for k, v in node.items() if k != "$ref"}, seen)
            return {**target, **siblings}
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in ("$defs", "definitions") or (key == "title" and isinstance(value, str)):
                continue
            if key in _VERBATIM:
                out[key] = value
            elif key in _SCHEMA_MAPS and isinstance(value, dict):
                out[key] = {name: walk(sub, seen) for name, sub in value.items()}
            else:
                out[key] = walk(value, seen)
        return out

    result: dict[str, Any] = walk(schema, frozenset())
    return result


# -- tools from functions ---------------------------------------------------------


def _validation_message(tool_name: str, exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        where = ".".join(str(p) for p in err["loc"])
        parts.append(f"{where}: {err['msg']}" if where else err["msg"])
    more = len(exc.errors()) - 3
    if more > 0:
        parts.append(f"and {more} more")
    return shorten(f"invalid arguments for {tool_name}: " + "; ".join(parts))


def tool_from_function(
    fn: Callable[..., Any],
    *,
    name: str | None = None,
    description: str | None = None,
    side_effects: bool = False,
    timeout_s: float = 10.0,
    examples: Iterable[ToolExample] = (),
) -> Tool:
    """A ``Tool`` that validates its arguments and calls ``fn``.

    Args:
        fn: A function with a type hint on every parameter (resolvable from
            its module's globals) and a docstring (first paragraph: the
            description; ``Args:``: the parameters').
            It returns ``str`` or a ``ToolOutput``; a ``ToolError`` (or any
            ``AssistantError``) it raises becomes ``ToolOutput(error=...)``.
        name: The tool's name (default: the function's).
        description: Overrides the docstring's first paragraph.
        side_effects: True: never runs without the user's approval.
        timeout_s: How long ``call_tool`` waits for it.
        examples: Worked examples for small models; each one's arguments
            must fit the schema.

    Raises:
        InvalidToolError: a bad name, ``*args``/``**kwargs``, a parameter
            without a type hint, a type JSON schema cannot express, an
            example whose arguments do not fit.
    """
    tool_name = check_name(name or fn.__name__)
    summary, arg_docs = parse_docstring(fn.__doc__)
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception as exc:  # a hint naming something not importable
        raise InvalidToolError(f"{tool_name}: cannot read the type hints: {exc}") from exc
    fields: dict[str, Any] = {}
    internal: dict[str, str] = {}
    for param in inspect.signature(fn).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise InvalidToolError(f"{tool_name}: *args/**kwargs cannot be tool arguments")
        if param.name not in hints:
            raise InvalidToolError(f"{tool_name}: parameter {param.name!r} needs a type hint")
        # Fields get private names and the parameter's name as alias, so a
        # parameter may be called ``json`` or ``schema`` without shadowing
        # BaseModel's attributes.
        field_name = f"arg_{param.name}"
        internal[param.name] = field_name
        default = ... if param.default is param.empty else param.default
        info = Field(default, alias=param.name, description=arg_docs.get(param.name))
        fields[field_name] = (hints[param.name], info)
    config = ConfigDict(extra="forbid", populate_by_name=False)
    try:
        model: type[BaseModel] = create_model(f"{tool_name}_arguments", __config__=config, **fields)
        schema = plain_schema(model.model_json_schema(by_alias=True))
    except InvalidToolError:
        raise
    except Exception as exc:
        raise InvalidToolError(f"{tool_name}: unsupported argument type: {exc}") from exc
    # the same keys in the same order for every tool: the schemas end up in
    # the prompt, which should read the same from one turn to the next
    schema = {
        "type": "object",
        "properties": schema.get("properties", {}),
        "required": list(schema.get("required", [])),
        "additionalProperties": False,
    }

    def run(arguments: dict[str, Any]) -> ToolOutput:
        try:
            validated = model.model_validate(arguments)
        except ValidationError as exc:
            return ToolOutput(error=_validation_message(tool_name, exc))
        kwargs = {param: getattr(validated, field) for param, field in internal.items()}
        try:
            return as_output(fn(**kwargs))
        except AssistantError as exc:
            return ToolOutput(error=str(exc) or exc.title)

    tool = Tool(
        name=tool_name,
        description=description or summary or tool_name.replace("_", " "),
        parameters=schema,
        run=run,
        side_effects=side_effects,
        timeout_s=timeout_s,
        origin="builtin",
        source="builtin",
        examples=tuple(examples),
    )
    for example in tool.examples:
        problem = argument_errors(tool, example.arguments)
        if problem is not None:
            raise InvalidToolError(f"example {example.request!r}: {problem}")
    return tool
