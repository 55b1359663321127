"""Query adapters on a real index of real docs pages with the real MiniLM."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from backend.knowledge.embedder import (
    DelegatingEmbedder,
    SentenceTransformerEmbedder,
    bundled_embedder_dir,
)
from backend.knowledge.index_store import IndexStore
from backend.knowledge.search import dense_ids
from backend.knowledge.service import KnowledgeBase
from backend.store.db import Database
from backend.store.migrations import migrate
from trainer.errors import TrainingCancelled
from trainer.query_adapter import (
    AdapterConfig,
    apply_linear,
    rank_metrics,
    train_encoder,
    train_linear,
    write_run,
)
from trainer.query_adapter_data import pairs_from_chunks
from trainer.query_adapter_embedder import QueryAdaptedEmbedder, QueryAdapterError
from trainer.query_adapter_index import index_passages, index_rows

DOCS = Path("/usr/share/doc/python3.11/html/library")
PAGES = ("functools.html", "os.path.html", "bisect.html", "heapq.html")


@pytest.fixture(scope="module")
def plain() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder()


@pytest.fixture(scope="module")
def index(
    tmp_path_factory: pytest.TempPathFactory, plain: SentenceTransformerEmbedder
) -> Iterator[IndexStore]:
    folder = tmp_path_factory.mktemp("docs")
    for page in PAGES:
        shutil.copy(DOCS / page, folder / page)
    db = Database(tmp_path_factory.mktemp("kb") / "kb.db")
    migrate(db)
    kb = KnowledgeBase(db, plain)
    kb.add_folder(folder)
    summary = kb.index()
    assert summary.failed == [] and summary.indexed == len(PAGES)
    yield IndexStore(db)
    kb.close()
    db.close()


def test_index_gives_pairs_and_vectors(index: IndexStore) -> None:
    passages = index_passages(index)
    rows = list(index_rows(index))
    assert len(passages.ids) == len(rows) == index.counts()["chunks"]
    assert np.allclose(np.linalg.norm(passages.vectors, axis=1), 1.0, atol=1e-4)
    pairs = pairs_from_chunks(rows)
    kinds = {p.kind for p in pairs}
    assert {"entry-name", "entry-description"} <= kinds
    names = [p.query for p in pairs if p.kind == "entry-name"]
    assert any("functools.lru_cache" in q for q in names)
    assert any("os.path.getmtime" in q for q in names)


def test_linear_adapter_fits_and_round_trips(
    index: IndexStore, plain: SentenceTransformerEmbedder, tmp_path: Path
) -> None:
    passages = index_passages(index)
    pairs = pairs_from_chunks(index_rows(index))
    vectors = plain.embed_queries([p.query for p in pairs])
    targets = passages.rows([p.chunk_id for p in pairs])
    before = rank_metrics(vectors, targets, passages.vectors)
    config = AdapterConfig(kind="linear", epochs=20, learning_rate=3e-3, identity_penalty=0.1)
    steps: list[int] = []
    weight, bias, losses = train_linear(
        vectors, pairs, passages, config, progress=lambda s, t, loss: steps.append(s)
    )
    assert steps == list(range(1, len(losses) + 1))
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
    after = rank_metrics(apply_linear(vectors, weight, bias), targets, passages.vectors)
    assert after["mrr@10"] > before["mrr@10"]

    out = write_run(
        tmp_path / "linear",
        config,
        plain.name,
        passages,
        {"all": len(pairs)},
        {"plain": before, "adapted": after},
        1.0,
        linear=(weight, bias),
    )
    adapted = QueryAdaptedEmbedder(plain, out)
    queries = [pairs[0].query, "binary search in a sorted list"]
    expected = apply_linear(plain.embed(queries), weight, bias)
    assert np.allclose(adapted.embed_queries(queries), expected, atol=1e-5)
    # Chunks are still embedded by the plain model: the index stays valid.
    assert np.allclose(adapted.embed(queries), plain.embed(queries))
    assert adapted.name == plain.name
    hits = dense_ids(index, adapted, "insert into a sorted list keeping it sorted", 5)
    assert len(hits) == 5
    assert json.loads((out / "adapter.json").read_text())["chunks"] == len(passages.ids)


def test_encoder_adapter_saves_a_model_that_loads(
    index: IndexStore, plain: SentenceTransformerEmbedder, tmp_path: Path
) -> None:
    passages = index_passages(index)
    pairs = pairs_from_chunks(index_rows(index))[:48]
    config = AdapterConfig(kind="encoder", epochs=1, batch_size=16, learning_rate=2e-5)
    model, losses = train_encoder(bundled_embedder_dir(), pairs, passages, config)
    assert len(losses) == 3 and all(np.isfinite(losses))
    out = write_run(tmp_path / "enc", config, plain.name, passages, {}, {}, 1.0, encoder=model)
    adapted = QueryAdaptedEmbedder(plain, out)
    query = ["cache the results of a function call"]
    got = adapted.embed_queries(query)
    want = model.encode(query, normalize_embeddings=True, convert_to_numpy=True)
    assert np.allclose(got, want, atol=1e-5)
    # A step of training moved the query side away from the plain model.
    assert not np.allclose(got, plain.embed(query), atol=1e-4)


class _StoredVectorQueries(DelegatingEmbedder):
    """Answers every query with one chunk's stored vector."""

    def __init__(self, inner: SentenceTransformerEmbedder, vector: np.ndarray) -> None:
        super().__init__(inner)
        self.vector = vector

    def embed_queries(self, queries: list[str]) -> np.ndarray:
        return np.stack([self.vector] * len(queries))


def test_dense_search_embeds_the_query_through_embed_queries(
    index: IndexStore, plain: SentenceTransformerEmbedder
) -> None:
    passages = index_passages(index)
    row = len(passages.ids) // 2
    probe = _StoredVectorQueries(plain, passages.vectors[row])
    hits = dense_ids(index, probe, "an unrelated question about nothing", 3)
    assert hits[0][0] == int(passages.ids[row])
    assert hits[0][1] > 0.999


def test_training_can_be_cancelled(index: IndexStore, plain: SentenceTransformerEmbedder) -> None:
    passages = index_passages(index)
    pairs = pairs_from_chunks(index_rows(index))
    vectors = plain.embed_queries([p.query for p in pairs])
    with pytest.raises(TrainingCancelled):
        train_linear(vectors, pairs, passages, AdapterConfig(), cancelled=lambda: True)


def test_bad_adapters_are_refused(plain: SentenceTransformerEmbedder, tmp_path: Path) -> None:
    with pytest.raises(QueryAdapterError, match="no query adapter"):
        QueryAdaptedEmbedder(plain, tmp_path)
    meta = {"kind": "linear", "passage_model": "some-other-model", "dim": 384}
    (tmp_path / "adapter.json").write_text(json.dumps(meta))
    with pytest.raises(QueryAdapterError, match="fitted to some-other-model"):
        QueryAdaptedEmbedder(plain, tmp_path)
    (tmp_path / "adapter.json").write_text(json.dumps({**meta, "passage_model": plain.name}))
    (tmp_path / "adapter.npz").write_bytes(b"not a numpy archive")
    with pytest.raises(QueryAdapterError, match="cannot load"):
        QueryAdaptedEmbedder(plain, tmp_path).embed_queries(["x"])
    np.savez(tmp_path / "adapter.npz", weight=np.eye(8), bias=np.zeros(8))
    with pytest.raises(QueryAdapterError, match="weight"):
        QueryAdaptedEmbedder(plain, tmp_path).embed_queries(["x"])
    (tmp_path / "adapter.json").write_text("{not json")
    with pytest.raises(QueryAdapterError, match="cannot read"):
        QueryAdaptedEmbedder(plain, tmp_path)
