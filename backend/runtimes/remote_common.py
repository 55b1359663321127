"""Pieces shared by the runtimes that talk to a model server over HTTP.

* **Token estimates.** A remote server does not expose a tokenizer through
  its standard API, so ``count_tokens`` estimates: one token per 3
  characters plus 4 tokens of chat-template framing per message. That
  over-counts English (about 4 characters per token), which is the safe side
  for trimming history to the context window.
* **A short-lived model cache.** The facade asks ``list_models`` on every
  send; a server is asked again only after ``ttl_s`` (30 s after success,
  10 s after a failure), so an unreachable server costs one short timeout
  per window, never one per call.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from backend.modelfiles.catalog import ModelInfo
from backend.runtimes.base import ChatMessage

FRAMING_TOKENS = 4
CHARS_PER_TOKEN = 3
OK_TTL_S = 30.0
FAILED_TTL_S = 10.0


def estimate_tokens(messages: list[ChatMessage]) -> list[int]:
    return [-(-len(m.content) // CHARS_PER_TOKEN) + FRAMING_TOKENS for m in messages]


class ModelCache:
    """Remembers the last model list (or the reason there is none)."""

    def __init__(self, fetch: Callable[[], list[ModelInfo]]) -> None:
        self._fetch = fetch
        self._lock = threading.Lock()
        self._models: list[ModelInfo] = []
        self._until = 0.0
        self.reason: str | None = None
        """Why the last fetch returned nothing (``None`` when it worked)."""

    def get(self) -> list[ModelInfo]:
        with self._lock:
            if time.monotonic() < self._until:
                return list(self._models)
            try:
                self._models, self.reason = self._fetch(), None
                self._until = time.monotonic() + OK_TTL_S
            except Exception as err:
                self._models, self.reason = [], str(err)
                self._until = time.monotonic() + FAILED_TTL_S
            return list(self._models)

    def invalidate(self) -> None:
        with self._lock:
            self._until = 0.0
