"""What a query adapter is fitted to, read from the knowledge-base index:
its chunks (for the training pairs) and its stored vectors (for the loss)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from backend.knowledge.errors import IndexStoreError
from backend.knowledge.index_store import IndexStore
from trainer.query_adapter import PassageMatrix
from trainer.query_adapter_data import ChunkRow


def index_rows(store: IndexStore, folder_ids: list[int] | None = None) -> Iterator[ChunkRow]:
    """Every indexed chunk in document order (optionally of some folders)."""
    clause, params = "", ()  # type: tuple[str, tuple[int, ...]]
    if folder_ids:
        clause = f" AND d.folder_id IN ({','.join('?' * len(folder_ids))})"
        params = tuple(folder_ids)
    rows = store.db.query(
        "SELECT c.id, d.path, c.heading, c.text FROM chunks c"
        " JOIN documents d ON d.id = c.document_id"
        f" WHERE d.status = 'indexed'{clause} ORDER BY d.id, c.ord",
        params,
    )
    for r in rows:
        yield ChunkRow(int(r["id"]), str(r["path"]), str(r["heading"]), str(r["text"]))


def index_passages(store: IndexStore) -> PassageMatrix:
    """All stored chunk vectors.

    Raises:
        IndexStoreError: the index has no vectors yet.
    """
    recorded = store.vector_model()
    if recorded is None or not store.has_vectors_table():
        raise IndexStoreError("the knowledge base has no vectors yet: run `assistant index`")
    dim = recorded[1]
    rows = store.db.query("SELECT rowid, embedding FROM chunks_vec ORDER BY rowid")
    if not rows:
        raise IndexStoreError("the knowledge base has no vectors yet: run `assistant index`")
    ids = np.fromiter((int(r["rowid"]) for r in rows), dtype=np.int64, count=len(rows))
    vectors = np.frombuffer(b"".join(bytes(r["embedding"]) for r in rows), dtype="<f4")
    return PassageMatrix(ids=ids, vectors=vectors.reshape(len(rows), dim).astype(np.float32))
