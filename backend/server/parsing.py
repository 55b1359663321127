"""Reading and validating request bodies into what the facade takes.

Both APIs share the same checks; a wrong type or missing field raises
``ApiError(422)`` naming the field, malformed JSON ``ApiError(400)``.
A model name ending in ``+docs`` (or ``"documents": true``) answers from
the user's indexed folders.

Structured output: OpenAI's ``response_format`` (``json_object``, or
``json_schema`` with its ``schema``) and Ollama's ``format`` (``"json"`` or
a schema object) become ``GenerationParams.json_schema``; a schema that is
not a valid JSON Schema is a 400 before anything is generated.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from starlette.requests import Request

from backend.chat.api_tools import ApiTools
from backend.chat.structured import JSON_OBJECT, SchemaError, check_schema
from backend.runtimes.base import ChatMessage, GenerationParams
from backend.server.errors import ApiError

DOCS_SUFFIX = "+docs"
MAX_TOKENS_CAP = 8192


async def read_json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as err:
        raise ApiError(400, f"request body is not valid JSON: {err}") from None
    if not isinstance(body, dict):
        raise ApiError(422, "request body must be a JSON object")
    return body


def field(body: dict[str, Any], name: str, kinds: type | tuple[type, ...], default: Any = None):
    value = body.get(name, default)
    if value is None:
        return default
    # bool is an int in Python; a JSON true is never a number here
    if isinstance(value, bool) and bool not in (kinds if isinstance(kinds, tuple) else (kinds,)):
        raise ApiError(422, f"'{name}' has the wrong type")
    if not isinstance(value, kinds):
        raise ApiError(422, f"'{name}' has the wrong type")
    return value


def model_name(body: dict[str, Any]) -> tuple[str | None, bool]:
    """(model without the ``+docs`` suffix or None for the default, docs?)."""
    name = field(body, "model", str)
    docs = bool(field(body, "documents", bool, False))
    if name and name.endswith(DOCS_SUFFIX):
        name, docs = name[: -len(DOCS_SUFFIX)], True
    return (name or None), docs


def _number(body: dict[str, Any], name: str, lo: float, hi: float) -> float | None:
    value = field(body, name, (int, float))
    if value is not None and not lo <= value <= hi:
        raise ApiError(422, f"'{name}' must be between {lo} and {hi}")
    return value


def params(body: dict[str, Any], defaults: GenerationParams) -> GenerationParams:
    """Sampling options; OpenAI names at the top level, Ollama names in
    ``options`` (``num_predict``)."""
    opts = field(body, "options", dict, {})
    merged = {**body, **opts}
    if "num_predict" in opts:
        merged["max_tokens"] = opts["num_predict"]
    if merged.get("max_completion_tokens") is not None:
        merged["max_tokens"] = merged["max_completion_tokens"]
    max_tokens = _number(merged, "max_tokens", 1, MAX_TOKENS_CAP)
    temperature = _number(merged, "temperature", 0, 2)
    top_p = _number(merged, "top_p", 0, 1)
    seed = field(merged, "seed", int)
    stop = merged.get("stop")
    if isinstance(stop, str):
        stop = [stop]
    if stop is not None and not (isinstance(stop, list) and all(isinstance(s, str) for s in stop)):
        raise ApiError(422, "'stop' must be a string or a list of strings")
    return GenerationParams(
        max_tokens=int(max_tokens) if max_tokens is not None else defaults.max_tokens,
        temperature=float(temperature) if temperature is not None else defaults.temperature,
        top_p=float(top_p) if top_p is not None else defaults.top_p,
        seed=seed if seed is not None else defaults.seed,
        stop=tuple(stop or ()),
    )


def _schema_text(schema: Any, name: str) -> str:
    try:
        return check_schema(schema)
    except SchemaError as err:
        raise ApiError(400, f"'{name}' is not a valid JSON schema: {err}") from None


def response_format(body: dict[str, Any]) -> str | None:
    """OpenAI's ``response_format`` as a JSON schema text (None: free text).

    Raises:
        ApiError: 400 for an unknown type or an invalid schema.
    """
    fmt = field(body, "response_format", dict)
    kind = None if fmt is None else fmt.get("type")
    if kind in (None, "text"):
        return None
    if kind == "json_object":
        return check_schema(JSON_OBJECT)
    if kind == "json_schema":
        spec = fmt.get("json_schema") if fmt else None
        if not isinstance(spec, dict) or "schema" not in spec:
            raise ApiError(400, "'response_format.json_schema.schema' is required")
        return _schema_text(spec["schema"], "response_format.json_schema.schema")
    raise ApiError(400, "'response_format.type' must be 'text', 'json_object' or 'json_schema'")


def ollama_format(body: dict[str, Any]) -> str | None:
    """Ollama's ``format`` (``"json"`` or a JSON schema) as schema text.

    Raises:
        ApiError: 400 for another string or an invalid schema.
    """
    fmt = body.get("format")
    if fmt is None or fmt == "":
        return None
    if fmt == "json":
        return check_schema(JSON_OBJECT)
    if isinstance(fmt, dict):
        return _schema_text(fmt, "format")
    raise ApiError(400, "'format' must be \"json\" or a JSON schema object")


def with_schema(params: GenerationParams, schema: str | None) -> GenerationParams:
    return params if schema is None else replace(params, json_schema=schema)


def texts(body: dict[str, Any], name: str) -> list[str]:
    value = body.get(name)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(t, str) for t in value):
        return value
    raise ApiError(422, f"'{name}' must be a string or a non-empty list of strings")


@dataclass
class ChatCall:
    model: str | None
    documents: bool
    messages: list[ChatMessage]
    params: GenerationParams
    stream: bool
    tools: ApiTools | None = None
    """The client's tools when the model may call one (``client_tools``)."""
