"""``assistant ask --schema FILE.json``: reading the schema file, and what
the answer is printed as.

The backend checks the schema, constrains the reply to it where the
runtime can and validates the finished reply (``ChatAPI.send``); this
module only turns the file into a schema (a file that is not JSON is an
"Invalid schema" error before the backend starts) and prints the validated
JSON, once, when the reply is complete: a reply that fails validation
leaves nothing on stdout.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from backend.api import SchemaError, StructuredOutputError

CONFLICTS = ("--docs", "--folder", "--tools")
"""Options a structured reply cannot honour (documents and tools are off)."""


def load_schema(path: str) -> dict[str, Any]:
    """The JSON schema in ``path`` (``-`` is not allowed: stdin is the question's).

    Raises:
        SchemaError: the file cannot be read, is not JSON, or is not an object.
    """
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise SchemaError(f"cannot read {path}: {getattr(err, 'strerror', None) or err}") from None
    try:
        schema = json.loads(text)
    except ValueError as err:
        raise SchemaError(f"{path} is not valid JSON: {err}") from None
    if not isinstance(schema, dict):
        raise SchemaError(f"{path}: a JSON schema must be a JSON object")
    return schema


def conflicting_option(docs: bool | None, folders: list[str] | None, tools: bool | None) -> str:
    """The first option given with ``--schema`` that it rules out, or ``""``."""
    for name, given in zip(CONFLICTS, (docs, bool(folders), tools), strict=True):
        if given:
            return name
    return ""


def answer_value(answer: str) -> Any:
    """The reply as JSON data (the backend has validated it).

    Raises:
        StructuredOutputError: it is not JSON after all (a backend that did
            not check).
    """
    try:
        return json.loads(answer)
    except ValueError as err:
        raise StructuredOutputError(f"the reply is not valid JSON: {err}") from None
