"""Turning callables into ``Tool``s, running a tool safely, and the set of
tools a conversation can offer.

``tool_from_function`` derives a tool from a typed, documented function:
the argument schema from its type hints (through a pydantic model that also
validates every call), the description from the docstring's first
paragraph, each argument's description from its Google-style ``Args:``
section. The schema is plain JSON schema (no ``$ref``, no titles,
``additionalProperties: false``) because llama.cpp turns it into a grammar
that constrains what the model may write.

``call_tool`` is the one way the calling loop runs a tool, built-in or MCP:
arguments checked against the tool's JSON schema first (``jsonschema``),
then ``tool.run`` in a daemon worker thread under the tool's timeout. It
never raises: a bad argument, a timeout, a cancel or an exception in the
tool all come back as ``ToolOutput.error`` for the model to read.
"""

from __future__ import annotations

import inspect
import re
import threading
import time
import typing
from collections.abc import Callable, Iterable
from fnmatch import fnmatchcase
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from backend.errors import AssistantError, NotFoundError
from backend.tools.base import Tool, ToolCall, ToolExample, ToolOutput, ToolResult

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)?$")
"""A tool name: ``snake_case``, or ``server.tool`` for MCP tools."""
MAX_ERROR_CHARS = 300
"""A validation message quotes the bad value; a long string is cut."""
_CANCEL_POLL_S = 0.05


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


def _as_output(value: Any) -> ToolOutput:
    if isinstance(value, ToolOutput):
        return value
    if isinstance(value, str):
        return ToolOutput(text=value)
    if value is None:
        return ToolOutput(text="")
    return ToolOutput(error=f"the tool returned {type(value).__name__}, not text")


def _short(text: str) -> str:
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 3] + "..."


def _validation_message(tool_name: str, exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        where = ".".join(str(p) for p in err["loc"])
        parts.append(f"{where}: {err['msg']}" if where else err["msg"])
    more = len(exc.errors()) - 3
    if more > 0:
        parts.append(f"and {more} more")
    return _short(f"invalid arguments for {tool_name}: " + "; ".join(parts))


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
            return _as_output(fn(**kwargs))
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


# -- running a tool ---------------------------------------------------------------


def argument_errors(tool: Tool, arguments: Any) -> str | None:
    """Why ``arguments`` do not fit ``tool.parameters`` (naming the field),
    or None when they do."""
    if not isinstance(arguments, dict):
        return f"invalid arguments for {tool.name}: expected a JSON object"
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError
    from jsonschema.validators import validator_for

    try:
        cls = validator_for(tool.parameters, default=Draft202012Validator)
        errors = sorted(
            cls(tool.parameters).iter_errors(arguments),
            key=lambda e: [str(p) for p in e.absolute_path],
        )
    except SchemaError as exc:
        return f"{tool.name} has an invalid argument schema: {_short(exc.message)}"
    except Exception as exc:  # a schema jsonschema cannot even walk
        return f"{tool.name} has an invalid argument schema: {_short(str(exc))}"
    if not errors:
        return None
    parts = []
    for err in errors[:3]:
        where = ".".join(str(p) for p in err.absolute_path)
        parts.append(_short(f"{where}: {err.message}" if where else err.message))
    if len(errors) > 3:
        parts.append(f"and {len(errors) - 3} more")
    return f"invalid arguments for {tool.name}: " + "; ".join(parts)


def describe_exception(exc: BaseException) -> str:
    message = str(exc)
    return _short(f"{type(exc).__name__}: {message}" if message else type(exc).__name__)


def call_tool(
    tool: Tool, arguments: dict[str, Any], cancel: threading.Event | None = None
) -> ToolOutput:
    """Validate ``arguments`` and run ``tool`` in a worker thread; never raises.

    The worker is a daemon thread: a tool that overruns its timeout (or is
    cancelled) is abandoned, not killed (Python cannot kill a thread), and
    its late result is dropped.
    """
    problem = argument_errors(tool, arguments)
    if problem is not None:
        return ToolOutput(error=problem)
    if cancel is not None and cancel.is_set():
        return ToolOutput(error="cancelled")
    box: list[ToolOutput] = []

    def work() -> None:
        try:
            value: Any = tool.run(dict(arguments))
            box.append(_as_output(value))
        except BaseException as exc:  # in a worker: everything is the tool's failure
            box.append(ToolOutput(error=describe_exception(exc)))

    worker = threading.Thread(target=work, name=f"tool-{tool.name}", daemon=True)
    worker.start()
    deadline = time.monotonic() + tool.timeout_s
    while worker.is_alive():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return ToolOutput(error=f"timed out after {tool.timeout_s:g} s")
        if cancel is not None and cancel.is_set():
            return ToolOutput(error="cancelled")
        worker.join(min(remaining, _CANCEL_POLL_S) if cancel is not None else remaining)
    if not box:  # pragma: no cover - work() always appends
        return ToolOutput(error="the tool ended without a result")
    return box[0]


# -- the registry -------------------------------------------------------------------


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
