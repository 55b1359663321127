"""Turning what an MCP server says about its tools into what our tools need.

An MCP tool's name may hold any characters and its ``inputSchema`` any JSON
schema, while our tool names are ``[a-z][a-z0-9_.]*`` and every tool schema
ends up inside the one JSON schema that llama.cpp turns into a grammar for
the model's tool call. llama.cpp's converter (``json_schema_to_gbnf``) fails
on some valid schemas, and one bad tool would then break tool calling for all
of them, so ``grammar_safe_schema`` rewrites only what the converter cannot
take and keeps the rest as given:

- local ``$ref`` are inlined (``#/$defs/Point``): a ref is resolved against
  the document root, which stops being this schema once it is embedded;
  a recursive or remote ref becomes "any value";
- boolean subschemas (``true``) and subschemas that give no type
  (``{"title": "Data"}``, pydantic's ``Any``) become "any value", spelled as
  a type list the converter understands;
- a ``pattern`` the converter's regex reader does not support (unanchored,
  groups like ``(?:...)``, ``\\p{L}``) is dropped: the server still checks
  its arguments, and its error goes back to the model;
- unknown type names and empty ``anyOf``/``oneOf``/``allOf`` are removed;
  ``$schema``/``$id``/``$defs`` go once the refs are inlined;
- the top level is always ``type: object``.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

ANY_VALUE: dict[str, Any] = {"type": ["string", "number", "boolean", "object", "array", "null"]}
""""Any JSON value" in a form llama.cpp's converter accepts (it reads ``{}``
as "any object")."""

_JSON_TYPES = frozenset({"string", "number", "integer", "boolean", "object", "array", "null"})
_TYPE_GIVING = frozenset(
    {
        "$ref",
        "type",
        "anyOf",
        "oneOf",
        "allOf",
        "const",
        "enum",
        "properties",
        "additionalProperties",
        "items",
        "prefixItems",
        "pattern",
    }
)
_DROPPED = frozenset({"$schema", "$id", "$defs", "definitions"})
_SCHEMA_MAPS = ("properties", "patternProperties", "dependentSchemas")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_VALUES = ("items", "additionalProperties", "not", "contains", "if", "then", "else")
_MAX_DEPTH = 32


def tool_name(raw: str) -> str:
    """An MCP tool's name as the ``[a-z0-9_]`` part of ``server.tool``.

    ``getWeather`` and ``Get-Weather`` both become ``get_weather``; a name
    with nothing usable becomes ``tool``."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", raw).lower()
    name = re.sub(r"[^a-z0-9_]+", "_", snake).strip("_")
    return re.sub(r"__+", "_", name) or "tool"


def unique_tool_names(raws: list[str]) -> list[str]:
    """``tool_name`` of each, with ``_2``, ``_3``... where two collide."""
    taken: set[str] = set()
    names = []
    for raw in raws:
        base = name = tool_name(raw)
        n = 2
        while name in taken:
            name = f"{base}_{n}"
            n += 1
        taken.add(name)
        names.append(name)
    return names


def grammar_safe_schema(schema: Any) -> dict[str, Any]:
    """``schema`` (an MCP tool's ``inputSchema``) rewritten so that llama.cpp
    can turn it into a grammar, also when embedded in a larger schema.

    Args:
        schema: The schema as the server sent it (any JSON value).

    Returns:
        A new dict with ``type: object``; the input is not modified.
    """
    if not isinstance(schema, dict):
        return {"type": "object", "properties": {}}
    safe = _Rewriter(schema).rewrite(schema, depth=0)
    safe["type"] = "object"
    return safe


class _Rewriter:
    def __init__(self, root: dict[str, Any]) -> None:
        self._root = root
        self._resolving: list[str] = []

    def rewrite(self, schema: Any, depth: int) -> dict[str, Any]:
        if not isinstance(schema, dict) or depth > _MAX_DEPTH:
            # ``true``, ``false`` (nothing is valid: rare, treated as "any")
            # and anything that is not a schema at all.
            return dict(ANY_VALUE)
        if isinstance(schema.get("$ref"), str):
            return self._inline(schema, depth)
        out: dict[str, Any] = {}
        for key, value in schema.items():
            if key in _DROPPED:
                continue
            if key in _SCHEMA_MAPS and isinstance(value, dict):
                out[key] = {
                    k: self.rewrite(v, depth + 1) for k, v in value.items() if v is not False
                }
            elif key in _SCHEMA_LISTS and isinstance(value, list):
                if value:
                    out[key] = [self.rewrite(v, depth + 1) for v in value]
            elif key in _SCHEMA_VALUES:
                if key == "additionalProperties" and isinstance(value, bool):
                    out[key] = value
                elif key == "items" and isinstance(value, list):  # draft-4 tuples
                    out[key] = [self.rewrite(v, depth + 1) for v in value]
                else:
                    out[key] = self.rewrite(value, depth + 1)
            elif key == "type":
                kind = _known_types(value)
                if kind is not None:
                    out[key] = kind
            elif key == "pattern":
                if isinstance(value, str) and _pattern_supported(value):
                    out[key] = value
            elif key == "required":
                if isinstance(value, list):
                    out[key] = [v for v in value if isinstance(v, str)]
            else:
                out[key] = value
        if not _gives_type(out):
            out.update(ANY_VALUE)
        return out

    def _inline(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        ref: str = schema["$ref"]
        siblings = {k: v for k, v in schema.items() if k != "$ref"}
        target = _resolve_pointer(self._root, ref)
        if target is None or ref in self._resolving:
            resolved = dict(ANY_VALUE)
        else:
            self._resolving.append(ref)
            try:
                resolved = self.rewrite(target, depth + 1)
            finally:
                self._resolving.pop()
        if siblings:
            # Keywords beside a ref (a description, a default) apply too.
            extra = self.rewrite(siblings, depth + 1)
            if not _gives_type(siblings):
                del extra["type"]  # the "any value" filler, not the sibling's
            resolved.update(extra)
        return resolved


def _gives_type(schema: dict[str, Any]) -> bool:
    """Whether llama.cpp's converter can tell what ``schema`` allows (it
    fails on a schema that only has a title, say)."""
    keys = _TYPE_GIVING & schema.keys()
    if schema.get("additionalProperties") is True:
        keys -= {"additionalProperties"}
    return bool(keys)


def _known_types(value: Any) -> str | list[str] | None:
    if isinstance(value, str):
        return value if value in _JSON_TYPES else None
    if isinstance(value, list):
        kinds = [v for v in value if isinstance(v, str) and v in _JSON_TYPES]
        return kinds or None
    return None


def _pattern_supported(pattern: str) -> bool:
    """What llama.cpp's regex-to-grammar reader takes: anchored, no ``(?``
    constructs, no Unicode property classes."""
    return (
        pattern.startswith("^")
        and pattern.endswith("$")
        and "(?" not in pattern
        and "\\p" not in pattern
        and "\\P" not in pattern
    )


def _resolve_pointer(root: dict[str, Any], ref: str) -> Any:
    """The subschema ``ref`` (``#/$defs/X``) points at in ``root``, or None
    for a remote or broken ref."""
    if not ref.startswith("#"):
        return None
    node: Any = root
    pointer = unquote(ref[1:])
    if not pointer:
        return root
    if not pointer.startswith("/"):
        return None
    for part in pointer[1:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node
