"""Fixtures for the knowledge base: an embedder wrapped to count what it
embeds. Sweeps, counts, bad files, cancelling and watching do not depend on
embedding quality, so ``embedder`` wraps the deterministic ``FakeEmbedder``;
tests of search quality and of the real model path use ``minilm``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from backend.knowledge.embedder import DelegatingEmbedder, Embedder
from backend.knowledge.service import KnowledgeBase
from backend.store.db import Database
from backend.store.migrations import migrate
from tests.fake_embedder import FakeEmbedder


class CountingEmbedder(DelegatingEmbedder):
    """The real embedder, counting the texts it is asked to embed."""

    def __init__(self, inner: Embedder) -> None:
        super().__init__(inner)
        self.embedded = 0

    def embed(self, texts: list[str]) -> np.ndarray:
        self.embedded += len(texts)
        return self.inner.embed(texts)


@pytest.fixture
def embedder() -> CountingEmbedder:
    return CountingEmbedder(FakeEmbedder())


@pytest.fixture
def kb(tmp_path: Path, embedder: CountingEmbedder) -> Iterator[KnowledgeBase]:
    db = Database(tmp_path / "kb.db")
    migrate(db)
    base = KnowledgeBase(db, embedder)
    yield base
    base.close()
    db.close()
