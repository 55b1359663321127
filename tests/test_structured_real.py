"""Structured output on the bundled SmolLM2 through llama.cpp: ten prompts,
each with its own schema (required fields, enums, integers, arrays, nested
objects, bare values), every reply parses and validates; a schema the
grammar cannot enforce is caught by validation; and ``assistant ask
--schema`` does the same on the real CLI path (its worker process)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from backend import Backend
from backend.common.config import GenerationSettings, Settings
from backend.common.events import ErrorEvent, MessageSaved
from backend.common.locations import Locations
from backend.modelfiles.catalog import BUNDLED_MODEL_NAME, ModelInfo
from backend.runtimes.llamacpp import LlamaCppRuntime
from tests.cli_helpers import Result, run_cli

pytestmark = pytest.mark.real_model


def text(limit: int) -> dict[str, Any]:
    return {"type": "string", "maxLength": limit}


CASES: list[tuple[str, dict[str, Any]]] = [
    (
        "Give the capital city of France and its country.",
        {
            "type": "object",
            "properties": {"city": text(40), "country": text(40)},
            "required": ["city", "country"],
        },
    ),
    (
        "Is water wet? Answer yes or no.",
        {
            "type": "object",
            "properties": {"answer": {"enum": ["yes", "no"]}},
            "required": ["answer"],
        },
    ),
    (
        "How many legs does a spider have?",
        {"type": "object", "properties": {"legs": {"type": "integer"}}, "required": ["legs"]},
    ),
    (
        "List the three primary colors.",
        {
            "type": "object",
            "properties": {
                "colors": {"type": "array", "items": text(20), "minItems": 3, "maxItems": 3}
            },
            "required": ["colors"],
        },
    ),
    (
        "Describe a famous book: its title, author and year.",
        {
            "type": "object",
            "properties": {"title": text(60), "author": text(40), "year": {"type": "integer"}},
            "required": ["title", "author", "year"],
        },
    ),
    (
        "Classify the sentiment of: 'I love this phone'.",
        {
            "type": "object",
            "properties": {
                "sentiment": {"enum": ["positive", "negative", "neutral"]},
                "confidence": {"type": "number"},
            },
            "required": ["sentiment"],
        },
    ),
    (
        "Give me a to-do list with two tasks.",
        {
            "type": "object",
            "properties": {
                "tasks": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"task": text(40), "done": {"type": "boolean"}},
                        "required": ["task", "done"],
                    },
                    "minItems": 2,
                    "maxItems": 2,
                }
            },
            "required": ["tasks"],
        },
    ),
    ("What is 2 plus 3?", {"type": "integer"}),
    ("Name a fruit.", text(30)),
    (
        "Describe a person named Alice who is 30 years old.",
        {
            "type": "object",
            "properties": {
                "name": text(30),
                "age": {"type": "integer"},
                "hobbies": {"type": "array", "items": text(20), "maxItems": 3},
            },
            "required": ["name", "age", "hobbies"],
            "additionalProperties": False,
        },
    ),
]

UNMEETABLE = {
    "type": "object",
    "properties": {"n": {"type": "integer", "minimum": 10, "maximum": 5}},
    "required": ["n"],
}
"""No integer is both >= 10 and <= 5 (llama.cpp's grammar ignores the bounds)."""


@pytest.fixture
async def real(
    locations: Locations, smollm2: tuple[LlamaCppRuntime, ModelInfo]
) -> AsyncIterator[Backend]:
    settings = Settings(
        default_model=BUNDLED_MODEL_NAME,
        generation=GenerationSettings(max_tokens=200, temperature=0, seed=1),
    )
    b = await Backend.open(locations=locations, settings=settings, runtimes=[smollm2[0]])
    yield b
    await b.close()


async def test_ten_prompts_each_reply_validates_against_its_schema(real: Backend) -> None:
    assert len(CASES) == 10
    failures = []
    for prompt, schema in CASES:
        events = await (await real.chat.send(None, prompt, schema=schema)).collect()
        errors = [e.message for e in events if isinstance(e, ErrorEvent)]
        reply = next(e for e in events if isinstance(e, MessageSaved)).content
        try:
            assert not errors, errors
            jsonschema.validate(json.loads(reply), schema)  # checked apart from the backend
        except (AssertionError, ValueError, jsonschema.ValidationError) as err:
            failures.append(f"{prompt!r}: {reply!r}: {err}")
    assert not failures, "\n".join(failures)


async def test_a_schema_the_grammar_cannot_enforce_is_an_error(real: Backend) -> None:
    events = await (await real.chat.send(None, "Pick a number.", schema=UNMEETABLE)).collect()
    (error,) = [e for e in events if isinstance(e, ErrorEvent)]
    assert error.title == "Invalid structured output"
    assert "$.n" in error.message


# -- the CLI, real worker process ------------------------------------------------------


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "clihome"
    h.mkdir()
    (h / "config.toml").write_text("[generation]\nmax_tokens = 200\ntemperature = 0\nseed = 1\n")
    return h


def ask(home: Path, *args: str) -> Result:
    return run_cli("ask", *args, env={"ASSISTANT_HOME": str(home)})


def test_cli_ask_schema_prints_valid_json_or_fails_clearly(home: Path, tmp_path: Path) -> None:
    prompt, schema = CASES[6]
    path = tmp_path / "todo.json"
    path.write_text(json.dumps(schema))
    r = ask(home, prompt, "--schema", str(path))
    assert r.returncode == 0, r.stderr
    jsonschema.validate(json.loads(r.stdout), schema)

    path.write_text(json.dumps(UNMEETABLE))
    r = ask(home, "Pick a number.", "--schema", str(path), "--json")
    assert r.returncode == 1
    assert r.stderr.startswith("Invalid structured output: ") and "$.n" in r.stderr
    assert r.stdout == ""  # nothing that looks like an answer
