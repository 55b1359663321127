"""The knowledge base's tables: folders, documents, chunks, FTS5 and vectors.

Every write that changes what search can see happens in one transaction, so a
crash leaves each document either in its old or in its new version, never a
mix of both (the design's "a crash mid-index resumes").

Vectors live in a sqlite-vec ``chunks_vec`` table keyed by the chunk's rowid.
Its dimension depends on the embedding model, so it is created at run time by
``ensure_vectors`` rather than by a migration; ``kb_meta`` records which model
wrote it, and vectors from two models are never mixed (their distances would
mean nothing). A trigger created alongside it deletes a chunk's vector
whenever the chunk row goes, including through ``ON DELETE CASCADE`` from a
document or folder, so chunk, FTS and vector counts always agree.

A duplicate document (``backend.knowledge.dedupe``) is stored as a
``skipped`` row pointing at its canonical (``duplicate_of``), with no
chunks. Whatever changes a canonical (a new version, a failure, a skip,
deletion) releases its duplicates in the same transaction: they go back to
``pending`` so the sweep (or the next one, after a crash) looks at them
again and either finds them a canonical or indexes them.

Each chunk is also scanned for prompt injection as it is written
(``backend.knowledge.injection``) and its ``chunk_flags`` row goes in the same
transaction, so a chunk is never searchable without its warning.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from backend.knowledge import duplicate_rows
from backend.knowledge.dedupe import Candidate, Signature
from backend.knowledge.errors import IndexStoreError, ModelMismatch
from backend.knowledge.injection import write_flags
from backend.knowledge.records import Chunk, Document, Folder, document_from_row, folder_from_row
from backend.knowledge.vector_table import VectorTable, vector_blob
from backend.store.db import Database, DatabaseError

HEADING_SEPARATOR = " > "
VECTORS = VectorTable("chunks_vec", "chunks", "embedding_model", "embedding_dim")


def _now() -> str:
    return datetime.now(UTC).isoformat()


def flag_text(chunk: Chunk) -> str:
    """What the injection scan reads: the heading too, since it is shown to
    the model with the passage."""
    heading = HEADING_SEPARATOR.join(chunk.heading_path)
    return f"{heading}\n{chunk.text}" if heading else chunk.text


class IndexStore:
    """Reads and writes the knowledge-base tables through one ``Database``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # ----------------------------------------------------------- vectors --

    def vector_model(self) -> tuple[str, int] | None:
        """The (model name, dim) whose vectors the index holds, if any."""
        return VECTORS.model(self.db)

    def has_vectors_table(self) -> bool:
        return VECTORS.exists(self.db)

    def ensure_vectors(self, model_name: str, dim: int) -> None:
        """Create ``chunks_vec`` for ``model_name`` or check it already is.

        Raises:
            ModelMismatch: vectors of another model (or dim) are stored;
                ``reset_vectors`` is the way to re-embed with the new one.
        """
        recorded = self.vector_model()
        if recorded is not None and recorded != (model_name, int(dim)):
            raise ModelMismatch(
                f"the knowledge base was embedded with {recorded[0]} ({recorded[1]} dims), "
                f"not {model_name} ({dim} dims); run `assistant index --reembed` to switch models"
            )
        with self.db.transaction() as c:
            VECTORS.create(c, model_name, int(dim))

    def reset_vectors(self, model_name: str, dim: int) -> None:
        """Drop every vector, switch to ``model_name`` and mark documents pending.

        Chunks and their FTS rows stay (keyword search keeps working) until
        the indexer re-embeds each document through ``replace_document``.
        """
        with self.db.transaction() as c:
            VECTORS.drop(c)
            c.execute("UPDATE documents SET status = 'pending' WHERE status = 'indexed'")
            VECTORS.create(c, model_name, int(dim))

    def _require_dim(self) -> int:
        recorded = self.vector_model()
        if recorded is None or not self.has_vectors_table():
            raise IndexStoreError("no vector table yet: call ensure_vectors(model, dim) first")
        return recorded[1]

    # ----------------------------------------------------------- folders --

    def add_folder(
        self,
        path: Path | str,
        include_globs: Sequence[str] = (),
        exclude_globs: Sequence[str] = (),
        max_file_bytes: int | None = None,
    ) -> Folder:
        """Add a folder (resolved, so symlinks cannot alias it) or update its
        settings if it is already there."""
        resolved = str(Path(path).expanduser().resolve())
        with self.db.transaction() as c:
            row = c.execute(
                "INSERT INTO folders(path, include_globs, exclude_globs, max_file_bytes, added_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT(path) DO UPDATE SET"
                " include_globs = excluded.include_globs,"
                " exclude_globs = excluded.exclude_globs,"
                " max_file_bytes = excluded.max_file_bytes RETURNING *",
                (
                    resolved,
                    json.dumps(list(include_globs)),
                    json.dumps(list(exclude_globs)),
                    max_file_bytes,
                    _now(),
                ),
            ).fetchone()
        return folder_from_row(row)

    def remove_folder(self, folder_id: int) -> bool:
        """Remove a folder with its documents, chunks, FTS rows and vectors."""
        with self.db.transaction() as c:
            return c.execute("DELETE FROM folders WHERE id = ?", (folder_id,)).rowcount > 0

    def folder(self, folder_id: int) -> Folder | None:
        row = self.db.query_one("SELECT * FROM folders WHERE id = ?", (folder_id,))
        return folder_from_row(row) if row else None

    def folders(self) -> list[Folder]:
        return [folder_from_row(r) for r in self.db.query("SELECT * FROM folders ORDER BY id")]

    # --------------------------------------------------------- documents --

    def replace_document(
        self,
        folder_id: int,
        path: str,
        size: int,
        mtime_ns: int,
        sha256: str,
        chunks: list[Chunk],
        vectors: np.ndarray,
        signature: Signature | None = None,
        released: list[str] | None = None,
    ) -> int:
        """Swap in a document's new chunks and vectors atomically; return its id.

        Old chunks (and through triggers their FTS rows and vectors) are
        deleted and the new ones written in one transaction: if anything
        fails, e.g. a vector of the wrong shape, the old version is intact.
        ``signature`` is kept for duplicate detection; the paths of the
        duplicates this document had are appended to ``released``.
        """
        dim = self._require_dim()
        try:
            with self.db.transaction() as c:
                doc_id = self._upsert(c, folder_id, path, size, mtime_ns, sha256, "indexed", None)
                duplicate_rows.set_signature(c, doc_id, signature, None)
                duplicate_rows.release(c, doc_id, released)
                c.execute("DELETE FROM chunks WHERE document_id = ?", (doc_id,))
                ids = [self._insert_chunk(c, doc_id, i, ch) for i, ch in enumerate(chunks)]
                write_flags(c, [(i, flag_text(ch)) for i, ch in zip(ids, chunks, strict=True)])
                for chunk_id, vector in zip(ids, vectors, strict=True):
                    c.execute(
                        "INSERT INTO chunks_vec(rowid, embedding) VALUES (?, ?)",
                        (chunk_id, vector_blob(vector, dim)),
                    )
                c.execute(
                    "UPDATE documents SET chunk_count = ?, indexed_at = ? WHERE id = ?",
                    (len(ids), _now(), doc_id),
                )
        except ValueError as err:  # zip(strict=True): counts differ
            raise IndexStoreError(
                f"{path}: {len(chunks)} chunks but {len(vectors)} vectors ({err})"
            ) from None
        except DatabaseError as err:
            raise IndexStoreError(f"{path}: cannot store the document: {err}") from None
        return doc_id

    def mark_duplicate(
        self,
        folder_id: int,
        path: str,
        size: int,
        mtime_ns: int,
        sha256: str,
        signature: Signature | None,
        canonical_id: int,
        reason: str,
        released: list[str] | None = None,
    ) -> int:
        """Record ``path`` as a duplicate of document ``canonical_id``: no
        chunks of its own (old ones dropped), status ``skipped`` with
        ``reason`` ("duplicate of ..."); its own duplicates are released."""
        with self.db.transaction() as c:
            doc_id = self._upsert(c, folder_id, path, size, mtime_ns, sha256, "skipped", reason)
            duplicate_rows.set_signature(c, doc_id, signature, canonical_id)
            duplicate_rows.release(c, doc_id, released)
            c.execute("DELETE FROM chunks WHERE document_id = ?", (doc_id,))
            c.execute(
                "UPDATE documents SET chunk_count = 0, indexed_at = ? WHERE id = ?",
                (_now(), doc_id),
            )
        return doc_id

    def candidates(self, folder_id: int) -> list[Candidate]:
        """The folder's indexed documents, as canonicals a duplicate may
        point at (documents indexed before signatures existed have none)."""
        return duplicate_rows.candidates(self.db, folder_id)

    def mark_failed(
        self,
        folder_id: int,
        path: str,
        size: int,
        mtime_ns: int,
        reason: str,
        released: list[str] | None = None,
    ) -> int:
        """Record that ``path`` could not be indexed, dropping its old chunks.

        The file changed (that is why it was re-read), so its old chunks are
        stale; keeping them would let search cite text the file no longer has.
        """
        return self._mark(folder_id, path, size, mtime_ns, "failed", reason, True, released)

    def mark_skipped(
        self,
        folder_id: int,
        path: str,
        size: int,
        mtime_ns: int,
        reason: str,
        released: list[str] | None = None,
    ) -> int:
        """Record that ``path`` is deliberately not indexed (too big, not a
        document: ``skip_rules``)."""
        return self._mark(folder_id, path, size, mtime_ns, "skipped", reason, True, released)

    def mark_pending(self, folder_id: int, path: str, size: int, mtime_ns: int) -> int:
        """Queue ``path`` for (re)indexing; its old chunks stay searchable until
        ``replace_document`` swaps in the new ones."""
        return self._mark(folder_id, path, size, mtime_ns, "pending", None, drop=False)

    def _mark(
        self,
        folder_id: int,
        path: str,
        size: int,
        mtime_ns: int,
        status: str,
        reason: str | None,
        drop: bool,
        released: list[str] | None = None,
    ) -> int:
        with self.db.transaction() as c:
            old = c.execute("SELECT sha256 FROM documents WHERE path = ?", (path,)).fetchone()
            sha = old["sha256"] if old else None
            doc_id = self._upsert(c, folder_id, path, size, mtime_ns, sha, status, reason)
            if drop:
                duplicate_rows.set_signature(c, doc_id, None, None)
                duplicate_rows.release(c, doc_id, released)
                c.execute("DELETE FROM chunks WHERE document_id = ?", (doc_id,))
                c.execute(
                    "UPDATE documents SET chunk_count = 0, sha256 = NULL WHERE id = ?", (doc_id,)
                )
        return doc_id

    def touch_document(self, path: str, mtime_ns: int) -> None:
        """The file was touched but its content hash is unchanged: record the
        new mtime so the next sweep skips it without reading it again."""
        with self.db.transaction() as c:
            c.execute("UPDATE documents SET mtime_ns = ? WHERE path = ?", (mtime_ns, path))

    def delete_document(self, path: str, released: list[str] | None = None) -> bool:
        """Forget ``path`` (the file was deleted or left the folder's globs);
        its duplicates are released (appended to ``released``)."""
        with self.db.transaction() as c:
            row = c.execute("SELECT id FROM documents WHERE path = ?", (path,)).fetchone()
            if row is None:
                return False
            duplicate_rows.release(c, int(row["id"]), released)
            return c.execute("DELETE FROM documents WHERE id = ?", (row["id"],)).rowcount > 0

    _SELECT_DOCS = (
        "SELECT d.*, c.path AS duplicate_path FROM documents d"
        " LEFT JOIN documents c ON c.id = d.duplicate_of WHERE 1"
    )

    def document(self, path: str) -> Document | None:
        row = self.db.query_one(self._SELECT_DOCS + " AND d.path = ?", (path,))
        return document_from_row(row) if row else None

    def documents(self, folder_id: int | None = None, status: str | None = None) -> list[Document]:
        sql, params = self._SELECT_DOCS, list[Any]()
        if folder_id is not None:
            sql, params = sql + " AND d.folder_id = ?", [*params, folder_id]
        if status is not None:
            sql, params = sql + " AND d.status = ?", [*params, status]
        rows = self.db.query(sql + " ORDER BY d.path", tuple(params))
        return [document_from_row(r) for r in rows]

    def chunks(self, path: str) -> list[Chunk]:
        """A document's stored chunks in order (for previews and tests)."""
        rows = self.db.query(
            'SELECT c.text, c.heading, c.page, c.start, c."end", c.tokens FROM chunks c'
            " JOIN documents d ON d.id = c.document_id WHERE d.path = ? ORDER BY c.ord",
            (path,),
        )
        return [
            Chunk(
                text=r["text"],
                heading_path=tuple(r["heading"].split(HEADING_SEPARATOR)) if r["heading"] else (),
                page=r["page"],
                start=r["start"],
                end=r["end"],
                tokens=r["tokens"],
            )
            for r in rows
        ]

    @staticmethod
    def _upsert(
        c: Any,
        folder_id: int,
        path: str,
        size: int,
        mtime_ns: int,
        sha256: str | None,
        status: str,
        error: str | None,
    ) -> int:
        row = c.execute(
            "INSERT INTO documents(folder_id, path, size, mtime_ns, sha256, status, error)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(path) DO UPDATE SET"
            " folder_id = excluded.folder_id, size = excluded.size,"
            " mtime_ns = excluded.mtime_ns, sha256 = excluded.sha256,"
            " status = excluded.status, error = excluded.error RETURNING id",
            (folder_id, path, size, mtime_ns, sha256, status, error),
        ).fetchone()
        return int(row["id"])

    @staticmethod
    def _insert_chunk(c: Any, doc_id: int, ord_: int, ch: Chunk) -> int:
        cur = c.execute(
            'INSERT INTO chunks(document_id, ord, text, heading, page, start, "end", tokens)'
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                doc_id,
                ord_,
                ch.text,
                HEADING_SEPARATOR.join(ch.heading_path),
                ch.page,
                ch.start,
                ch.end,
                ch.tokens,
            ),
        )
        return int(cur.lastrowid)

    # ------------------------------------------------------------- stats --

    def counts(self) -> dict[str, int]:
        """Rows in each layer; documents aside, the three must always agree.

        ``fts`` counts the FTS5 index's own docsize rows: ``count(*)`` on an
        external-content table would just read ``chunks`` back.
        """

        def one(sql: str) -> int:
            return int(self.db.query_one(sql)[0])

        return {
            "documents": one("SELECT count(*) FROM documents"),
            "chunks": one("SELECT count(*) FROM chunks"),
            "fts": one("SELECT count(*) FROM chunks_fts_docsize"),
            "vectors": one("SELECT count(*) FROM chunks_vec") if self.has_vectors_table() else 0,
        }
