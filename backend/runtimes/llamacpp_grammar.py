"""JSON schemas as llama.cpp grammars, for constrained output (tool
decisions): compiling one takes milliseconds to tens of milliseconds, and
the schema is the same on every step of a conversation, so they are kept."""

from __future__ import annotations

import threading
from typing import Any

from backend.errors import ModelError

GRAMMAR_CACHE = 8
"""Compiled JSON-schema grammars kept (one per distinct tool set)."""


class GrammarCache:
    """``get(schema)``: the compiled ``LlamaGrammar``, oldest dropped first."""

    def __init__(self, size: int = GRAMMAR_CACHE) -> None:
        self.size = size
        self._grammars: dict[str, Any] = {}
        self._lock = threading.Lock()

    def get(self, json_schema: str | None) -> Any:
        """The grammar for ``json_schema`` (None for None).

        Raises:
            ModelError: the schema cannot be turned into a grammar.
        """
        if json_schema is None:
            return None
        with self._lock:
            grammar = self._grammars.get(json_schema)
        if grammar is not None:
            return grammar
        from llama_cpp.llama_grammar import LlamaGrammar

        try:
            grammar = LlamaGrammar.from_json_schema(json_schema, verbose=False)
        except Exception as err:
            raise ModelError(f"The JSON schema cannot be used as a grammar: {err}") from None
        with self._lock:
            if len(self._grammars) >= self.size:
                self._grammars.pop(next(iter(self._grammars)))
            self._grammars[json_schema] = grammar
        return grammar
