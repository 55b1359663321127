"""The compiled-grammar cache of the llama.cpp runtime (real llama_cpp)."""

from __future__ import annotations

import json

import pytest

from backend.common.errors import ModelError
from backend.runtimes.llamacpp_grammar import GrammarCache


def schema(n: int) -> str:
    return json.dumps({"type": "object", "properties": {f"a{n}": {"type": "integer"}}})


def test_same_schema_same_grammar_and_oldest_dropped() -> None:
    cache = GrammarCache(size=2)
    first = cache.get(schema(1))
    assert first is not None and cache.get(schema(1)) is first
    cache.get(schema(2))
    cache.get(schema(3))  # drops schema 1
    assert cache.get(schema(1)) is not first
    assert cache.get(None) is None


def test_a_schema_that_is_no_grammar_is_a_model_error() -> None:
    with pytest.raises(ModelError, match="cannot be used as a grammar"):
        GrammarCache().get("{not json")
