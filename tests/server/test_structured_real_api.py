"""Structured output from the bundled SmolLM2 (llama.cpp, its grammar)
served over HTTP, through the official ``openai`` and ``ollama`` clients:
``response_format`` and ``format`` come back as JSON valid for the schema."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import ollama
import openai
import pytest

from backend.common.config import Settings
from backend.common.locations import Locations

from .conftest import Running, start_server

pytestmark = pytest.mark.real_model

BOOK = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "maxLength": 60},
        "year": {"type": "integer"},
        "genre": {"enum": ["novel", "poetry", "history"]},
    },
    "required": ["title", "year", "genre"],
}
COLORS = {
    "type": "object",
    "properties": {
        "colors": {
            "type": "array",
            "items": {"type": "string", "maxLength": 20},
            "minItems": 2,
            "maxItems": 3,
        }
    },
    "required": ["colors"],
}


@pytest.fixture(scope="module")
def served_real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    home: Path = tmp_path_factory.mktemp("real-structured") / "home"
    yield from start_server({"locations": Locations(home), "settings": Settings()})


def ask(text: str) -> list[Any]:
    return [{"role": "user", "content": text}]


def test_openai_client_response_format(served_real: Running) -> None:
    c = openai.OpenAI(base_url=served_real.url + "/v1", api_key=served_real.token, max_retries=0)
    model = c.models.list().data[0].id
    options: dict[str, Any] = {"model": model, "max_tokens": 120, "temperature": 0, "seed": 1}
    reply = c.chat.completions.create(
        messages=ask("Describe a famous novel as JSON with title, year and genre."),
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "book", "schema": BOOK, "strict": True},
        },
        **options,
    )
    jsonschema.validate(json.loads(reply.choices[0].message.content or ""), BOOK)

    reply = c.chat.completions.create(
        messages=ask("Reply with a JSON object giving the capital of Italy."),
        response_format={"type": "json_object"},
        **options,
    )
    assert isinstance(json.loads(reply.choices[0].message.content or ""), dict)

    streamed = c.chat.completions.create(
        messages=ask("List two or three colours of the rainbow as JSON."),
        response_format={"type": "json_schema", "json_schema": {"name": "c", "schema": COLORS}},
        stream=True,
        **options,
    )
    text = "".join(ch.choices[0].delta.content or "" for ch in streamed if ch.choices)
    jsonschema.validate(json.loads(text), COLORS)


def test_ollama_client_format(served_real: Running) -> None:
    c = ollama.Client(
        host=served_real.url, headers={"Authorization": f"Bearer {served_real.token}"}
    )
    model = c.list().models[0].model or ""
    options = {"num_predict": 120, "temperature": 0, "seed": 1}
    chat = c.chat(
        model=model,
        messages=ask("Describe a famous novel as JSON with title, year and genre."),
        format=BOOK,
        options=options,
        stream=False,
    )
    jsonschema.validate(json.loads(chat.message.content or ""), BOOK)
    gen = c.generate(
        model=model,
        prompt="Reply with a JSON object giving the capital of Italy.",
        format="json",
        options=options,
        stream=False,
    )
    assert isinstance(json.loads(gen.response), dict)
