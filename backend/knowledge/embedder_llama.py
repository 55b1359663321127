"""Embedding with any GGUF model through llama.cpp (``embedding_backend = "llamacpp"``).

Decisions:

* **Name = the file's identity.** ``llamacpp:<stem>:<digest>``, the digest
  hashing the file's size, its first and its last MiB (the GGUF header --
  architecture, quantization, tensor table -- and the end of the weights).
  Another file, or the same name re-quantized or re-downloaded with other
  weights, is another model, so the index asks for a re-embed instead of
  mixing vectors. Hashing all of a multi-GB file at every sweep would cost
  seconds; the partial hash costs two reads.
* **Lazy, one lock.** Nothing loads until ``embed`` (or ``dim`` when the
  header does not say it); a llama.cpp context is not thread-safe, so
  loading and embedding are serialised by one lock.
* **Pooling.** A real embedding GGUF (BERT, nomic-bert, ...) records its
  pooling (mean/CLS/last) in ``<arch>.pooling_type`` and llama.cpp applies
  it; a model without one (a chat model such as the bundled SmolLM2) gets
  mean pooling over its last hidden states.
* **Context.** ``n_ctx`` (default 512, capped at the model's trained
  length) is also the batch and micro-batch size, so one text of up to
  ``n_ctx`` tokens is embedded whole; ``max_tokens`` reports it and the
  chunker keeps chunks within it (``KnowledgeBase`` further caps chunks at
  256 tokens, leaving room for the heading path the indexer prepends). As a
  last resort ``Llama.embed`` truncates a longer text rather than failing the
  sweep.
* **Counting with the model's own tokenizer.** ``chunk_tokenizer`` returns a
  ``LlamaChunkTokenizer`` over the same file (vocabulary only), so chunk
  sizes are counted in this model's tokens.
* **Threads.** ``n_threads`` defaults to the physical cores, as for chat.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

import numpy as np

from backend.knowledge.embedder import Embedder, normalise
from backend.knowledge.errors import EmbeddingError
from backend.knowledge.tokenizer_llama import LlamaChunkTokenizer

DEFAULT_N_CTX = 512
_HASH_SPAN = 1 << 20
_POOLING_MEAN = 1  # llama_cpp.LLAMA_POOLING_TYPE_MEAN
_POOLING_UNSPECIFIED = -1


def file_digest(path: Path) -> str:
    """A short hash of ``path``'s size, first and last MiB (see module doc)."""
    try:
        size = path.stat().st_size
        h = hashlib.sha256(str(size).encode())
        with open(path, "rb") as f:
            h.update(f.read(_HASH_SPAN))
            if size > _HASH_SPAN:
                f.seek(max(_HASH_SPAN, size - _HASH_SPAN))
                h.update(f.read(_HASH_SPAN))
    except OSError as err:
        raise EmbeddingError(f"cannot read the embedding model {path}: {err}") from None
    return h.hexdigest()[:12]


def _default_gguf() -> Path:
    from backend.modelfiles.catalog import bundled_model_path

    path = bundled_model_path()
    if path is None:
        raise EmbeddingError(
            "no GGUF embedding model: set [knowledge] embedding_gguf "
            "(the bundled SmolLM2 model is not installed)"
        )
    return path


class LlamaCppEmbedder(Embedder):
    """Embeds with one GGUF file through llama-cpp-python, loaded on first use."""

    def __init__(
        self,
        model_path: Path | None = None,
        n_ctx: int = DEFAULT_N_CTX,
        n_threads: int | None = None,
        name: str | None = None,
    ) -> None:
        if n_ctx < 16:
            raise ValueError(f"n_ctx={n_ctx} is too small to embed anything")
        self._path = Path(model_path).expanduser() if model_path is not None else None
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self._name = name
        self._header: Any = None
        self._llm: Any = None
        self._lock = threading.Lock()

    @property
    def model_path(self) -> Path:
        if self._path is None:
            self._path = _default_gguf()
        return self._path

    def _info(self) -> Any:
        """The GGUF header (validated: llama.cpp must never get a bad file)."""
        if self._header is None:
            from backend.modelfiles.gguf_header import validate_gguf

            try:
                self._header = validate_gguf(self.model_path)
            except Exception as err:  # ModelError names the file and the problem
                raise EmbeddingError(f"unusable embedding model: {err}") from None
        return self._header

    @property
    def name(self) -> str:
        if self._name is None:
            path = self.model_path
            if not path.is_file():
                raise EmbeddingError(f"the GGUF embedding model {path} does not exist")
            self._name = f"llamacpp:{path.stem}:{file_digest(path)}"
        return self._name

    @property
    def dim(self) -> int:
        info = self._info()
        value = info.metadata.get(f"{info.architecture}.embedding_length")
        if isinstance(value, int) and value > 0:
            return value
        return int(self._load().n_embd())

    @property
    def max_tokens(self) -> int:
        trained = self._info().context_length
        return min(self.n_ctx, trained) if trained else self.n_ctx

    def chunk_tokenizer(self) -> LlamaChunkTokenizer:
        return LlamaChunkTokenizer(self.model_path)

    def _pooling(self) -> int:
        info = self._info()
        recorded = info.metadata.get(f"{info.architecture}.pooling_type")
        if isinstance(recorded, int) and recorded > 0:
            return _POOLING_UNSPECIFIED  # llama.cpp uses the model's own
        return _POOLING_MEAN

    def _load(self) -> Any:
        with self._lock:
            if self._llm is not None:
                return self._llm
            n_ctx = self.max_tokens
            pooling = self._pooling()
            from backend.common.cores import physical_cores

            threads = self.n_threads or physical_cores()
            try:
                from llama_cpp import Llama

                self._llm = Llama(
                    str(self.model_path),
                    embedding=True,
                    pooling_type=pooling,
                    n_ctx=n_ctx,
                    n_batch=n_ctx,
                    n_ubatch=n_ctx,
                    n_threads=threads,
                    n_threads_batch=threads,
                    n_gpu_layers=0,
                    verbose=False,
                )
            except Exception as err:  # llama-cpp-python raises ValueError/RuntimeError
                raise EmbeddingError(
                    f"cannot load the embedding model {self.model_path}: {err}"
                ) from None
            return self._llm

    def embed(self, texts: list[str]) -> np.ndarray:
        llm = self._load()
        dim = int(llm.n_embd())
        out = np.zeros((len(texts), dim), dtype=np.float32)
        # An empty text has no tokens in a vocabulary without BOS, and
        # llama.cpp has no pooled vector for an empty sequence: it stays zero.
        idx = [i for i, t in enumerate(texts) if t]
        if not idx:
            return out
        with self._lock:
            try:
                vectors = llm.embed([texts[i] for i in idx], normalize=False, truncate=True)
            except Exception as err:
                raise EmbeddingError(
                    f"embedding failed with {self.model_path.name}: {err}"
                ) from None
        arr = np.asarray(vectors, dtype=np.float32)
        if arr.shape != (len(idx), dim):
            raise EmbeddingError(
                f"{self.model_path.name} returned vectors of shape {arr.shape}, "
                f"expected ({len(idx)}, {dim}); is it an embedding-capable model?"
            )
        out[idx] = arr
        return normalise(out)
