"""The SQL behind duplicate documents (``dedupe``): signatures, the
``duplicate_of`` relation and releasing a canonical's duplicates.

Functions on a connection or cursor, so ``IndexStore`` can run them inside
the transaction that changes the canonical.
"""

from __future__ import annotations

from typing import Any

from backend.knowledge.dedupe import Candidate, Signature
from backend.store.db import Database


def candidates(db: Database, folder_id: int) -> list[Candidate]:
    """The folder's indexed documents as canonicals a duplicate may point
    at (a document indexed before signatures existed has none)."""
    rows = db.query(
        "SELECT id, path, text_hash, minhash FROM documents"
        " WHERE folder_id = ? AND status = 'indexed' ORDER BY path",
        (folder_id,),
    )
    return [
        Candidate(
            r["path"],
            Signature.from_stored(r["text_hash"], r["minhash"])
            if r["text_hash"] is not None
            else None,
            int(r["id"]),
        )
        for r in rows
    ]


def duplicates_of(db: Database, path: str) -> list[str]:
    """Paths recorded as duplicates of ``path``."""
    rows = db.query(
        "SELECT d.path FROM documents d JOIN documents c ON c.id = d.duplicate_of"
        " WHERE c.path = ? ORDER BY d.path",
        (path,),
    )
    return [r["path"] for r in rows]


def set_signature(
    c: Any, doc_id: int, signature: Signature | None, duplicate_of: int | None
) -> None:
    c.execute(
        "UPDATE documents SET text_hash = ?, minhash = ?, duplicate_of = ? WHERE id = ?",
        (
            signature.text_hash if signature else None,
            signature.blob() if signature else None,
            duplicate_of,
            doc_id,
        ),
    )


def release(c: Any, doc_id: int, released: list[str] | None) -> None:
    """Send ``doc_id``'s duplicates back to ``pending`` (their canonical
    changed or went away: they are looked at again), appending their paths
    to ``released``."""
    rows = c.execute(
        "UPDATE documents SET status = 'pending', error = NULL, duplicate_of = NULL"
        " WHERE duplicate_of = ? RETURNING path",
        (doc_id,),
    ).fetchall()
    if released is not None:
        released.extend(r["path"] for r in rows)
