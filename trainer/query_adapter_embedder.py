"""Queries embedded through a query adapter fitted to the user's index.

``trainer.query_adapter`` writes a run directory; this module reads it and
wraps the index's embedder so that only *queries* change (through
``Embedder.embed_queries``, which dense search calls): chunks are still
embedded by the plain model (``embed``), so the index never needs
re-embedding and switching the adapter off is free. The adapter records the
passage model it was fitted to; one made for another model (or another
dimension) is refused rather than silently comparing unrelated vectors.

Measured, not enabled: ``benchmarks/query_adapter_eval.py`` shows the
adapters win on held-out structure-derived queries but not on real
questions (README, "Retrieval quality"), so chat does not load one and this
lives beside the training code that the benchmark drives, not in the
backend.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from backend.knowledge.embedder import (
    DelegatingEmbedder,
    Embedder,
    SentenceTransformerEmbedder,
    normalise,
)
from backend.knowledge.errors import EmbeddingError

ADAPTER_META = "adapter.json"


class QueryAdapterError(EmbeddingError):
    """The query adapter is missing, unreadable, or made for another model."""

    title = "Query adapter problem"


def read_adapter_meta(directory: Path) -> dict[str, Any]:
    """The run's ``adapter.json``.

    Raises:
        QueryAdapterError: no readable adapter in ``directory``.
    """
    path = Path(directory) / ADAPTER_META
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError:
        raise QueryAdapterError(f"no query adapter in {directory} (no {ADAPTER_META})") from None
    except (OSError, ValueError) as err:
        raise QueryAdapterError(f"cannot read {path}: {err}") from None
    if not isinstance(meta, dict) or meta.get("kind") not in ("linear", "encoder"):
        raise QueryAdapterError(f"{path} does not describe a linear or encoder adapter")
    return meta


class QueryAdaptedEmbedder(DelegatingEmbedder):
    """The inner embedder for chunks; the adapter for queries.

    Loading is lazy like the embedder's own (the weights of an ``encoder``
    adapter are a second MiniLM).
    """

    def __init__(self, inner: Embedder, directory: Path) -> None:
        super().__init__(inner)
        self.directory = Path(directory)
        self.meta = read_adapter_meta(self.directory)
        if self.meta.get("passage_model") != inner.name:
            raise QueryAdapterError(
                f"the query adapter in {self.directory} was fitted to "
                f"{self.meta.get('passage_model')}, the index embeds with {inner.name}"
            )
        self._linear: tuple[np.ndarray, np.ndarray] | None = None
        self._encoder: SentenceTransformerEmbedder | None = None

    @property
    def kind(self) -> str:
        return str(self.meta["kind"])

    def _load_linear(self) -> tuple[np.ndarray, np.ndarray]:
        if self._linear is None:
            try:
                with np.load(self.directory / "adapter.npz", allow_pickle=False) as data:
                    weight = np.asarray(data["weight"], dtype=np.float32)
                    bias = np.asarray(data["bias"], dtype=np.float32)
            except (OSError, KeyError, ValueError) as err:
                raise QueryAdapterError(
                    f"cannot load {self.directory}/adapter.npz: {err}"
                ) from None
            dim = int(self.meta.get("dim") or weight.shape[0])
            if weight.shape != (dim, dim) or bias.shape != (dim,):
                raise QueryAdapterError(
                    f"{self.directory}/adapter.npz holds a {weight.shape} weight,"
                    f" not ({dim}, {dim})"
                )
            self._linear = (weight, bias)
        return self._linear

    def embed_queries(self, queries: list[str]) -> np.ndarray:
        if self.kind == "linear":
            weight, bias = self._load_linear()
            plain = self.inner.embed_queries(queries)
            if weight.shape[0] != plain.shape[1]:
                raise QueryAdapterError(
                    f"the query adapter expects {weight.shape[0]}-dim vectors, "
                    f"the model gives {plain.shape[1]}"
                )
            return normalise(plain @ weight.T + bias)
        if self._encoder is None:
            self._encoder = SentenceTransformerEmbedder(self.directory / "model", name=self.name)
        return self._encoder.embed(queries)
