"""IndexStore: atomic document replacement, cascades, model bookkeeping."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from backend.knowledge.errors import IndexStoreError, ModelMismatch
from backend.knowledge.index_stats import index_stats
from backend.knowledge.index_store import IndexStore
from backend.knowledge.records import Chunk
from backend.store.db import Database
from backend.store.migrations import migrate

DIM = 8


@pytest.fixture
def store(tmp_path: Path) -> Iterator[IndexStore]:
    db = Database(tmp_path / "kb.db")
    migrate(db)
    s = IndexStore(db)
    s.ensure_vectors("fake-model", DIM)
    yield s
    db.close()


def chunks(*texts: str) -> list[Chunk]:
    out, pos = [], 0
    for i, t in enumerate(texts):
        out.append(Chunk(text=t, heading_path=("Doc", f"S{i}"), start=pos, end=pos + len(t)))
        pos += len(t)
    return out


def vecs(n: int, dim: int = DIM, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def assert_layers_agree(store: IndexStore) -> dict[str, int]:
    c = store.counts()
    assert c["chunks"] == c["fts"] == c["vectors"]
    return c


def fts_hits(store: IndexStore, word: str) -> int:
    return int(
        store.db.query_one("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?", (word,))[0]
    )


def test_replace_document_writes_all_layers(store: IndexStore, tmp_path: Path) -> None:
    f = store.add_folder(tmp_path, include_globs=["*.md"])
    doc_id = store.replace_document(f.id, "/a.md", 10, 1, "h1", chunks("alpha", "beta"), vecs(2))
    d = store.document("/a.md")
    assert d is not None and d.id == doc_id
    assert (d.status, d.chunk_count, d.sha256) == ("indexed", 2, "h1")
    assert [c.text for c in store.chunks("/a.md")] == ["alpha", "beta"]
    assert store.chunks("/a.md")[1].heading_path == ("Doc", "S1")
    assert assert_layers_agree(store) == {"documents": 1, "chunks": 2, "fts": 2, "vectors": 2}
    # replacing drops the old version everywhere
    store.replace_document(f.id, "/a.md", 11, 2, "h2", chunks("gamma"), vecs(1, seed=1))
    assert assert_layers_agree(store)["chunks"] == 1
    assert fts_hits(store, "alpha") == 0 and fts_hits(store, "gamma") == 1


@pytest.mark.parametrize(
    "bad",
    [vecs(3, dim=DIM + 1), vecs(1), vecs(5)],
    ids=["wrong-dim", "too-few", "too-many"],
)
def test_failed_replace_leaves_old_version_intact(
    store: IndexStore, tmp_path: Path, bad: np.ndarray
) -> None:
    f = store.add_folder(tmp_path)
    store.replace_document(f.id, "/a.md", 10, 1, "old", chunks("alpha", "beta"), vecs(2))
    before = store.counts()
    with pytest.raises(IndexStoreError):
        store.replace_document(f.id, "/a.md", 20, 2, "new", chunks("x", "y", "zeta"), bad)
    d = store.document("/a.md")
    assert d is not None and (d.sha256, d.size, d.chunk_count) == ("old", 10, 2)
    assert [c.text for c in store.chunks("/a.md")] == ["alpha", "beta"]
    assert store.counts() == before
    assert fts_hits(store, "alpha") == 1 and fts_hits(store, "zeta") == 0


def test_replace_needs_vector_table(tmp_path: Path) -> None:
    db = Database(tmp_path / "v.db")
    migrate(db)
    s = IndexStore(db)
    f = s.add_folder(tmp_path)
    with pytest.raises(IndexStoreError, match="ensure_vectors"):
        s.replace_document(f.id, "/a", 1, 1, "h", chunks("a"), vecs(1))


def test_folder_removal_cascades(store: IndexStore, tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    one = store.add_folder(tmp_path / "one")
    two = store.add_folder(tmp_path / "two")
    store.replace_document(one.id, "/one/a", 1, 1, "a", chunks("alpha", "beta"), vecs(2))
    store.replace_document(one.id, "/one/b", 1, 1, "b", chunks("gamma"), vecs(1))
    store.replace_document(two.id, "/two/c", 1, 1, "c", chunks("delta"), vecs(1))
    store.mark_failed(one.id, "/one/bad.pdf", 5, 1, "corrupt")
    assert len(store.documents(folder_id=one.id)) == 3
    assert store.remove_folder(one.id)
    assert [x.path for x in store.folders()] == [str((tmp_path / "two").resolve())]
    assert [d.path for d in store.documents()] == ["/two/c"]
    assert assert_layers_agree(store) == {"documents": 1, "chunks": 1, "fts": 1, "vectors": 1}
    assert not store.remove_folder(one.id)


def test_add_folder_is_idempotent_and_updates(store: IndexStore, tmp_path: Path) -> None:
    a = store.add_folder(tmp_path, include_globs=["*.md"])
    b = store.add_folder(tmp_path, exclude_globs=["*.tmp"], max_file_bytes=100)
    assert a.id == b.id
    assert (b.include_globs, b.exclude_globs, b.max_file_bytes) == ([], ["*.tmp"], 100)
    assert store.folder(a.id) == b


def test_statuses_and_delete(store: IndexStore, tmp_path: Path) -> None:
    f = store.add_folder(tmp_path)
    store.replace_document(f.id, "/a", 1, 1, "h", chunks("alpha", "beta"), vecs(2))
    store.mark_pending(f.id, "/a", 2, 2)
    d = store.document("/a")
    assert d is not None and d.status == "pending" and d.chunk_count == 2  # still searchable
    store.mark_failed(f.id, "/a", 3, 3, "parse error: bad xref")
    d = store.document("/a")
    assert d is not None and (d.status, d.error, d.chunk_count) == (
        "failed",
        "parse error: bad xref",
        0,
    )
    assert assert_layers_agree(store)["chunks"] == 0
    store.mark_skipped(f.id, "/big", 10**9, 1, "too large")
    store.mark_pending(f.id, "/new", 1, 1)
    assert [d.path for d in store.documents(status="pending")] == ["/new"]
    assert index_stats(store)["by_status"] == {
        "pending": 1,
        "indexed": 0,
        "failed": 1,
        "skipped": 1,
    }
    assert store.delete_document("/a") and not store.delete_document("/a")
    assert store.document("/a") is None


def test_model_mismatch_and_reset(store: IndexStore, tmp_path: Path) -> None:
    f = store.add_folder(tmp_path)
    store.replace_document(f.id, "/a", 1, 1, "h", chunks("alpha", "beta"), vecs(2))
    store.ensure_vectors("fake-model", DIM)  # same model: fine, idempotent
    with pytest.raises(ModelMismatch, match="--reembed"):
        store.ensure_vectors("other-model", DIM)
    with pytest.raises(ModelMismatch):
        store.ensure_vectors("fake-model", DIM * 2)
    store.reset_vectors("other-model", 4)
    assert store.vector_model() == ("other-model", 4)
    c = store.counts()
    assert (c["chunks"], c["fts"], c["vectors"]) == (2, 2, 0)  # keyword search survives
    d = store.document("/a")
    assert d is not None and d.status == "pending"
    store.replace_document(f.id, "/a", 1, 1, "h", chunks("alpha", "beta"), vecs(2, dim=4))
    assert assert_layers_agree(store)["vectors"] == 2
    stats = index_stats(store)
    assert (stats["model"], stats["dim"], stats["folders"]) == ("other-model", 4, 1)


def test_model_survives_reopen(tmp_path: Path) -> None:
    db = Database(tmp_path / "r.db")
    migrate(db)
    IndexStore(db).ensure_vectors("m", DIM)
    db.close()
    db2 = Database(tmp_path / "r.db")
    with pytest.raises(ModelMismatch):
        IndexStore(db2).ensure_vectors("n", DIM)
    db2.close()
