"""Embedding with a model served by Ollama (``embedding_backend = "ollama"``).

It speaks Ollama's HTTP API directly -- ``POST <url>/api/embed`` with
``{"model", "input": [texts], "truncate": true}``, answered by
``{"embeddings": [[...], ...]}`` -- with the standard library's ``urllib``
(no client package to install; ``httpx`` is not a dependency).

Decisions:

* **Name** ``ollama:<model>`` with Ollama's implicit ``:latest`` tag made
  explicit, so ``nomic-embed-text`` and ``nomic-embed-text:latest`` are the
  same index model and any other model or tag asks for a re-embed. (Pulling
  a new build under the same tag is not detected.)
* **Dim** is learnt by embedding one probe text, once, on first need.
* **Errors** name the URL and the model: an unreachable server, a model the
  server does not have (Ollama answers 404: ``ollama pull`` it), any other
  HTTP error with the server's own message, and a malformed answer. One
  ``timeout`` (seconds) bounds connecting and each read; a first request may
  have to wait while Ollama loads the model, hence the generous default.
* **Chunk sizes.** The server's tokenizer is out of reach, so chunks are
  counted with the bundled MiniLM (BERT WordPiece) tokenizer and kept within
  ``max_tokens`` of those (default 256). Ollama's embedding models are
  mostly BERT-family with similar vocabularies and take at least that many
  tokens (all-minilm 256 -- the same tokenizer --, mxbai-embed-large and
  snowflake-arctic-embed 512, nomic-embed-text and bge-m3 2048+), so this is
  a safety margin rather than an exact count; ``truncate: true`` makes the
  server cut a pathological chunk instead of failing the whole sweep.
  Lower ``max_tokens`` for a model with a shorter window.
* Batches of ``batch_size`` texts per request; requests are independent, so
  the embedder is thread-safe (a lock only guards the cached dim).
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from backend.knowledge.embedder import Embedder, normalise
from backend.knowledge.errors import EmbeddingError

DEFAULT_URL = "http://127.0.0.1:11434"
DEFAULT_MODEL = "nomic-embed-text"
DEFAULT_MAX_TOKENS = 256
_PROBE = "dimension probe"


def tagged(model: str) -> str:
    """``model`` with Ollama's default ``:latest`` tag when it has none."""
    last = model.rsplit("/", 1)[-1]
    return model if ":" in last else f"{model}:latest"


def _server_message(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace").strip()[:300]
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return str(data["error"])
    return str(data)[:300]


class OllamaEmbedder(Embedder):
    """An embedding model on an Ollama server, over its HTTP API."""

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        base_url: str = DEFAULT_URL,
        batch_size: int = 32,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        timeout: float = 120.0,
    ) -> None:
        if not model.strip():
            raise EmbeddingError("no Ollama embedding model named")
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise EmbeddingError(
                f"the Ollama URL {base_url!r} is not an http(s) URL such as {DEFAULT_URL}"
            )
        if max_tokens < 16:
            raise EmbeddingError(f"max_tokens={max_tokens} is too small to embed anything")
        self.model = model.strip()
        self.base_url = base_url.rstrip("/")
        self.batch_size = max(1, batch_size)
        self._max_tokens = max_tokens
        self.timeout = timeout
        self._dim: int | None = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return f"ollama:{tagged(self.model)}"

    @property
    def dim(self) -> int:
        with self._lock:
            if self._dim is None:
                self._dim = int(self._request([_PROBE]).shape[1])
            return self._dim

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    def _post(self, payload: dict[str, Any]) -> Any:
        url = f"{self.base_url}/api/embed"
        request = urllib.request.Request(
            url,
            data=json.dumps(payload).encode("utf-8"),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        where = f"Ollama at {self.base_url} (model {self.model})"
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as err:
            message = _server_message(err.read())
            if err.code == 404:
                raise EmbeddingError(
                    f"{where} does not have the model: {message}; run `ollama pull {self.model}`"
                ) from None
            raise EmbeddingError(f"{where} answered HTTP {err.code}: {message}") from None
        except (urllib.error.URLError, OSError) as err:  # refused, DNS, timeout
            reason = getattr(err, "reason", err)
            raise EmbeddingError(
                f"cannot reach {where}: {reason}; is `ollama serve` running?"
            ) from None
        try:
            return json.loads(body)
        except ValueError:
            raise EmbeddingError(f"{where} answered with something that is not JSON") from None

    def _request(self, texts: list[str]) -> np.ndarray:
        data = self._post({"model": self.model, "input": texts, "truncate": True})
        vectors = data.get("embeddings") if isinstance(data, dict) else None
        try:
            arr = np.asarray(vectors, dtype=np.float32)
        except (TypeError, ValueError):
            arr = np.zeros((0,), dtype=np.float32)
        if arr.ndim != 2 or arr.shape[0] != len(texts) or arr.shape[1] == 0:
            raise EmbeddingError(
                f"Ollama at {self.base_url} (model {self.model}) did not answer one "
                f"vector per text ({len(texts)} sent); is it an embedding model?"
            )
        return arr

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = [
            self._request(texts[start : start + self.batch_size])
            for start in range(0, len(texts), self.batch_size)
        ]
        with self._lock:
            if self._dim is None:
                self._dim = int(parts[0].shape[1])
            expected = self._dim
        sizes = sorted({p.shape[1] for p in parts} - {expected})
        if sizes:
            raise EmbeddingError(
                f"Ollama model {self.model} changed its vector size from {expected} to {sizes[0]}"
            )
        return normalise(np.concatenate(parts))
