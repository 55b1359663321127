"""The client's ``tools`` and ``tool_choice``, read and checked.

Both APIs send tools as OpenAI does: ``{"type": "function", "function":
{"name", "description", "parameters"}}``. Each becomes a
``backend.tools.base.Tool`` that the model can be offered
(``backend.chat.api_tools``) but that never runs here: its ``run`` only
says so. ``source`` is ``"client"``; ``origin`` is irrelevant, since these
tools never enter the assistant's registry.

Checks, each a 400 naming the tool: the shape above, a name of 1-64
letters, digits, ``_``, ``-`` or ``.``, no two tools with one name, and
``parameters`` a valid JSON schema (Draft 2020-12 meta-schema) of an
object. The schema is then made grammar-safe the way MCP tools' schemas
are (``backend.tools.mcp_schema.grammar_safe_schema``), so one unusual
schema cannot break the constrained decision.

``tool_choice``: ``"auto"`` (default), ``"none"``, ``"required"``, or
``{"type": "function", "function": {"name": ...}}`` naming one of the
tools. Ollama has no ``tool_choice``; the same field is honoured there too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from jsonschema import Draft202012Validator, SchemaError

from backend.chat.api_tools import ApiTools
from backend.server.errors import ApiError
from backend.server.messages import Messages
from backend.tools.base import Tool, ToolOutput
from backend.tools.mcp_schema import grammar_safe_schema

NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MAX_TOOLS = 128
MAX_DESCRIPTION = 2000
NOT_HERE = "this tool is the client's: the client runs it, the server never does"

Mode = Literal["auto", "none", "required"]


@dataclass
class ClientTools:
    tools: list[Tool]
    mode: Mode = "auto"

    @property
    def offered(self) -> bool:
        return bool(self.tools) and self.mode != "none"


def _not_here(arguments: dict[str, Any]) -> ToolOutput:
    return ToolOutput(error=NOT_HERE)


def _bad(message: str) -> ApiError:
    return ApiError(400, message)


def _schema(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {"type": "object", "properties": {}}
    if not isinstance(value, dict):
        raise _bad(f"{where}.parameters must be a JSON schema object")
    if value.get("type", "object") != "object":
        raise _bad(f'{where}.parameters must describe an object ("type": "object")')
    try:
        Draft202012Validator.check_schema(value)
    except SchemaError as err:
        path = "/".join(str(p) for p in err.path) or "(top)"
        raise _bad(
            f"{where}.parameters is not a valid JSON schema at {path}: {err.message}"
        ) from None
    return grammar_safe_schema(value)


def _tool(raw: Any, i: int) -> Tool:
    where = f"tools[{i}]"
    if not isinstance(raw, dict):
        raise _bad(f"{where} must be an object")
    if raw.get("type", "function") != "function":
        raise _bad(f'{where}.type must be "function"')
    fn = raw.get("function")
    if not isinstance(fn, dict):
        raise _bad(f"{where}.function must be an object with a 'name'")
    name = fn.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        raise _bad(f"{where}.function.name must be 1-64 letters, digits, '_', '-' or '.'")
    description = fn.get("description")
    if description is None:
        description = ""
    if not isinstance(description, str):
        raise _bad(f"{where}.function.description must be a string")
    return Tool(
        name=name,
        description=description.strip()[:MAX_DESCRIPTION] or f"The function {name}.",
        parameters=_schema(fn.get("parameters"), f"{where}.function"),
        run=_not_here,
        source="client",
    )


def _mode(raw: Any, names: list[str]) -> tuple[Mode, str | None]:
    if raw is None or raw == "auto":
        return "auto", None
    if raw in ("none", "required"):
        return raw, None
    if isinstance(raw, dict):
        fn = raw.get("function")
        name = fn.get("name") if isinstance(fn, dict) else None
        if raw.get("type", "function") == "function" and isinstance(name, str):
            if name not in names:
                raise _bad(f"tool_choice names {name!r}, which is not in 'tools'")
            return "required", name
    raise _bad(
        'tool_choice must be "auto", "none", "required" or '
        '{"type": "function", "function": {"name": ...}}'
    )


def client_tools(body: dict[str, Any]) -> ClientTools:
    """The request's tools, restricted by ``tool_choice``.

    Raises:
        ApiError: 400 for a malformed tool, schema or choice.
    """
    raw = body.get("tools")
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise _bad("'tools' must be a list")
    if len(raw) > MAX_TOOLS:
        raise _bad(f"'tools' has {len(raw)} tools; at most {MAX_TOOLS} are accepted")
    tools = [_tool(t, i) for i, t in enumerate(raw)]
    names = [t.name for t in tools]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise _bad(f"'tools' has more than one tool named {', '.join(dupes)}")
    mode, named = _mode(body.get("tool_choice"), names)
    if mode == "required" and not tools:
        raise _bad("tool_choice \"required\" needs 'tools'")
    if named is not None:
        tools = [t for t in tools if t.name == named]
    return ClientTools(tools, mode)


def api_tools(body: dict[str, Any], messages: Messages) -> ApiTools | None:
    """What the facade needs to let the model call a client tool, or None
    when it must answer in text: no tools, ``tool_choice: "none"``, or the
    last message is a tool result (the model answers from it). The tools
    are checked in every case.

    Raises:
        ApiError: 400 for a malformed tool, schema or choice.
    """
    chosen = client_tools(body)
    if not chosen.offered or messages.ends_with_results:
        return None
    return ApiTools(chosen.tools, required=chosen.mode == "required", conversation=messages.own)
