"""Structured output: replies that must be JSON valid against a JSON schema.

A schema is checked before anything is generated (``check_schema``: a
malformed one is the caller's error, never a model's), handed to the
runtime as ``GenerationParams.json_schema`` (llama.cpp compiles it to a
grammar, Ollama takes it as ``format``, OpenAI-compatible servers as
``response_format``), and the finished reply is parsed and validated with
``jsonschema`` (``reply_problem``) whatever the runtime did: a runtime that
cannot constrain sampling, a grammar that cannot express a keyword
(llama.cpp ignores ``minimum``, for one) or a reply cut at the token limit
all end in a clear error, never in a reply that merely looks like JSON.
"""

from __future__ import annotations

import json
from typing import Any

from backend.common.errors import AssistantError

JSON_OBJECT: dict[str, Any] = {"type": "object"}
"""What "any JSON object" means (OpenAI's ``json_object``, Ollama's ``"json"``)."""


class SchemaError(AssistantError):
    """A JSON schema is malformed: not JSON, not an object, or not a valid
    JSON Schema (the message says where)."""

    title = "Invalid schema"


class StructuredOutputError(AssistantError):
    """A reply that had to follow a JSON schema does not."""

    title = "Invalid structured output"


def check_schema(schema: Any) -> str:
    """``schema`` as the JSON text runtimes take, once it is known to be a
    valid JSON Schema.

    Raises:
        SchemaError: not a JSON object, or not a valid JSON Schema.
    """
    from jsonschema.exceptions import SchemaError as JsonSchemaError
    from jsonschema.validators import validator_for

    if not isinstance(schema, dict):
        raise SchemaError(f"a JSON schema must be a JSON object, not {type(schema).__name__}")
    try:
        validator_for(schema).check_schema(schema)
    except JsonSchemaError as err:
        where = "/".join(str(p) for p in err.path)
        raise SchemaError(f"{where or 'the schema'}: {err.message}") from None
    try:
        return json.dumps(schema, ensure_ascii=False)
    except (TypeError, ValueError) as err:  # only reachable from Python callers
        raise SchemaError(f"the schema is not JSON data: {err}") from None


def schema_instruction(schema_text: str) -> str:
    """What the system prompt says when a reply must follow a schema: the
    grammar makes it valid, the instruction makes its values sensible."""
    return (
        "Answer with one JSON value and nothing else: no prose, no Markdown fences. "
        f"It must follow this JSON schema:\n{schema_text}"
    )


def reply_problem(text: str, schema_text: str, stop_reason: str = "stop") -> str | None:
    """Why ``text`` is not a JSON value valid against the schema, or None.

    ``stop_reason`` ``length`` explains an unparseable reply as cut off.
    """
    from jsonschema.exceptions import best_match
    from jsonschema.validators import validator_for

    try:
        value = json.loads(text)
    except ValueError as err:
        if stop_reason == "length":
            return (
                "the reply was cut off at the token limit before its JSON was complete "
                "(raise max_tokens, or ask for less)"
            )
        detail = getattr(err, "msg", str(err))
        return f"the reply is not valid JSON ({detail}): {_excerpt(text)}"
    schema = json.loads(schema_text)
    error = best_match(validator_for(schema)(schema).iter_errors(value))
    if error is None:
        return None
    return f"the reply does not match the schema at {error.json_path}: {error.message}"


def finished_problem(
    schema_text: str | None, text: str, stop_reason: str, error: str | None
) -> str | None:
    """``reply_problem`` for a finished reply; None when no schema was
    asked for, or the reply was stopped or failed anyway (nothing to judge).
    """
    if schema_text is None or error is not None or stop_reason not in ("stop", "length"):
        return None
    return reply_problem(text, schema_text, stop_reason)


def _excerpt(text: str, limit: int = 120) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= limit else flat[: limit - 1] + "…")


__all__ = [
    "JSON_OBJECT",
    "SchemaError",
    "StructuredOutputError",
    "check_schema",
    "finished_problem",
    "reply_problem",
    "schema_instruction",
]
