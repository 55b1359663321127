"""The SQL behind duplicate documents (``dedupe``): signatures, the
``duplicate_of`` relation and releasing a canonical's duplicates.

Functions on a connection or cursor, so ``IndexStore`` can run them inside
the transaction that changes the canonical; and ``backfill`` for an index
built before duplicates were detected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from backend.knowledge.dedupe import Candidate, DuplicateFinder, Signature, signature
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
            Signature.from_stored(r["text_hash"], r["minhash"]) if r["text_hash"] else None,
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
            signature.text_hash if signature else "",
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


def backfill(store: Any, folder_id: int, root: Path) -> list[tuple[str, str]]:
    """Give documents indexed before duplicates were detected (no
    ``text_hash``) a signature, from their stored chunks, and collapse the
    duplicates among them, without re-reading or re-embedding anything.
    Returns (duplicate, canonical) pairs; a no-op read once done."""
    rows = store.db.query(
        "SELECT id, path FROM documents"
        " WHERE folder_id = ? AND status = 'indexed' AND text_hash IS NULL",
        (folder_id,),
    )
    if not rows:
        return []
    for r in rows:
        texts = store.db.query(
            "SELECT text FROM chunks WHERE document_id = ? ORDER BY ord", (r["id"],)
        )
        sig = signature("\n".join(t["text"] for t in texts))
        with store.db.transaction() as c:
            set_signature(c, int(r["id"]), sig, None)
    finder = DuplicateFinder()
    pairs = []
    for cand in sorted(candidates(store.db, folder_id), key=lambda c: (c.rank, c.path)):
        found = finder.match(cand.path, cand.signature)
        if found is None:
            finder.add(cand)
            continue
        canonical = found[0]
        doc = store.document(cand.path)
        shown = Path(canonical.path)
        shown = shown.relative_to(root) if shown.is_relative_to(root) else shown
        assert canonical.doc_id is not None
        store.mark_duplicate(
            folder_id, doc.path, doc.size, doc.mtime_ns, doc.sha256 or "", cand.signature,
            canonical.doc_id, f"duplicate of {shown}",
        )  # fmt: skip
        pairs.append((cand.path, canonical.path))
    return pairs
