"""A sqlite-vec table of one embedding model's vectors, beside the rows it
embeds: the documents' ``chunks_vec`` and the past chats' ``chat_chunks_vec``.

The dimension is known only once the model is, so the table is made at run
time; which model filled it is recorded in ``kb_meta`` under the table's own
keys, and a trigger deletes a row's vector with the row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from backend.knowledge.errors import IndexStoreError
from backend.store.db import Database


@dataclass(frozen=True)
class VectorTable:
    table: str
    """The vec0 table (``chunks_vec``)."""
    rows: str
    """The table whose ``id`` each vector's rowid is (``chunks``)."""
    model_key: str
    dim_key: str

    def model(self, db: Database) -> tuple[str, int] | None:
        """The (model name, dim) recorded for this table, if any."""
        rows = {r["key"]: r["value"] for r in db.query("SELECT key, value FROM kb_meta")}
        if self.model_key not in rows or self.dim_key not in rows:
            return None
        return rows[self.model_key], int(rows[self.dim_key])

    def exists(self, db: Database) -> bool:
        row = db.query_one(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (self.table,)
        )
        return row is not None

    def create(self, c: Any, model_name: str, dim: int) -> None:
        """Make the table (and its delete trigger) and record the model."""
        if dim <= 0:
            raise IndexStoreError(f"invalid embedding dimension {dim}")
        c.execute(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {self.table} USING vec0("
            f"embedding float[{dim}] distance_metric=cosine)"
        )
        c.execute(
            f"CREATE TRIGGER IF NOT EXISTS {self.table}_ad AFTER DELETE ON {self.rows} BEGIN "
            f"DELETE FROM {self.table} WHERE rowid = old.id; END"
        )
        c.executemany(
            "INSERT OR REPLACE INTO kb_meta(key, value) VALUES (?, ?)",
            [(self.model_key, model_name), (self.dim_key, str(dim))],
        )

    def drop(self, c: Any) -> None:
        """Drop the vectors and forget their model (the rows stay)."""
        c.execute(f"DROP TRIGGER IF EXISTS {self.table}_ad")
        c.execute(f"DROP TABLE IF EXISTS {self.table}")
        c.execute("DELETE FROM kb_meta WHERE key IN (?, ?)", (self.model_key, self.dim_key))


def vector_blob(vector: np.ndarray, dim: int) -> bytes:
    """One vector as the little-endian float32 blob sqlite-vec reads."""
    v = np.asarray(vector, dtype=np.float32)
    if v.shape != (dim,):
        raise IndexStoreError(f"vector has shape {v.shape}, the index expects ({dim},)")
    return v.astype("<f4", copy=False).tobytes()
