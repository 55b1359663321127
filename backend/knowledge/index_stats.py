"""The knowledge base at a glance (``assistant folders`` / status screens):
row counts, documents by status, folders and the embedding model."""

from __future__ import annotations

from typing import Any

from backend.knowledge.index_store import IndexStore

STATUSES = ("pending", "indexed", "failed", "skipped")


def index_stats(store: IndexStore) -> dict[str, Any]:
    """Counts, documents by status, folders and the embedding model."""
    by_status = {
        r["status"]: r["n"]
        for r in store.db.query("SELECT status, count(*) AS n FROM documents GROUP BY status")
    }
    model = store.vector_model()
    return {
        **store.counts(),
        "folders": int(store.db.query_one("SELECT count(*) FROM folders")[0]),
        "by_status": {s: by_status.get(s, 0) for s in STATUSES},
        "model": model[0] if model else None,
        "dim": model[1] if model else None,
    }
