"""A deterministic embedder for unit tests of logic that does not depend on
embedding quality (sweeps, counts, transactions, crash safety, scoping).

Each text becomes a normalised bag of hashed words (and word bigrams), so
texts sharing words are close and unrelated texts are nearly orthogonal:
enough for dense search to rank an exact topic first, in microseconds and
with no model. Tests of ranking quality, the router, RAG answers and the
real model path use the session's real MiniLM (``minilm`` in
tests/conftest.py) instead.
"""

from __future__ import annotations

import hashlib
import itertools
import re

import numpy as np

from backend.knowledge.embedder import Embedder, normalise

_WORD = re.compile(r"[a-z0-9]+")


class FakeEmbedder(Embedder):
    def __init__(self, dim: int = 384, name: str = "fake-hash-embedder") -> None:
        self._dim = dim
        self._name = name
        self.embedded = 0
        """How many texts it was asked to embed (tests count re-embedding)."""

    @property
    def name(self) -> str:
        return self._name

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def max_tokens(self) -> int:
        return 256

    def _slot(self, feature: str) -> tuple[int, float]:
        digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
        value = int.from_bytes(digest, "little")
        return value % self._dim, 1.0 if value >> 63 else -1.0

    def embed(self, texts: list[str]) -> np.ndarray:
        self.embedded += len(texts)
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for row, text in enumerate(texts):
            words = _WORD.findall(text.lower())
            features = words + [f"{a} {b}" for a, b in itertools.pairwise(words)]
            for feature in features or ["<empty>"]:
                slot, sign = self._slot(feature)
                out[row, slot] += sign
        return normalise(out)
