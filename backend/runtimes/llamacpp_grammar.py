"""JSON schemas as llama.cpp grammars, for constrained output (tool
decisions): compiling one takes milliseconds to tens of milliseconds, and
the schema is the same on every step of a conversation, so they are kept."""

from __future__ import annotations

import threading
from typing import Any

from backend.common.errors import ModelError

GRAMMAR_CACHE = 8
"""Compiled JSON-schema grammars kept (one per distinct tool set)."""


class GrammarCache:
    """``get(schema)``: the compiled ``LlamaGrammar``, oldest dropped first."""

    def __init__(self, size: int = GRAMMAR_CACHE) -> None:
        self.size = size
        self._grammars: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def get(self, json_schema: str | None) -> Any:
        """The grammar for ``json_schema`` (None for None).

        Raises:
            ModelError: the schema cannot be turned into a grammar.
        """
        if json_schema is None:
            return None
        return self._compiled(("schema", json_schema))

    def get_gbnf(self, gbnf: str) -> Any:
        """The grammar for GBNF text (native tool-call envelopes).

        Raises:
            ModelError: the text is not a valid grammar.
        """
        return self._compiled(("gbnf", gbnf))

    def _compiled(self, key: tuple[str, str]) -> Any:
        with self._lock:
            grammar = self._grammars.get(key)
        if grammar is not None:
            return grammar
        from llama_cpp.llama_grammar import LlamaGrammar

        kind, text = key
        try:
            if kind == "schema":
                grammar = LlamaGrammar.from_json_schema(text, verbose=False)
            else:
                grammar = LlamaGrammar.from_string(text, verbose=False)
        except Exception as err:
            what = "JSON schema" if kind == "schema" else "grammar"
            raise ModelError(f"The {what} cannot be used as a grammar: {err}") from None
        with self._lock:
            if len(self._grammars) >= self.size:
                self._grammars.pop(next(iter(self._grammars)))
            self._grammars[key] = grammar
        return grammar
