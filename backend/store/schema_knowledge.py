"""Schema migrations: the knowledge base: folders, documents, chunks with FTS5
and vectors, injection flags, duplicates.

Each function returns one migration's SQL; ``backend.store.migrations``
lists them in the order they run. Never edit a released one: add a new one."""

from __future__ import annotations


def m006_knowledge_base() -> str:
    """Folders, documents, chunks and keyword search for the knowledge base.

    The vector table ``chunks_vec`` is not here: its dimension depends on the
    embedding model, so ``IndexStore.ensure_vectors`` creates it and records
    the model in ``kb_meta``.
    """
    return """
        CREATE TABLE folders (
            id INTEGER PRIMARY KEY,
            path TEXT NOT NULL UNIQUE,
            include_globs TEXT NOT NULL DEFAULT '[]',
            exclude_globs TEXT NOT NULL DEFAULT '[]',
            max_file_bytes INTEGER,
            added_at TEXT NOT NULL
        );
        CREATE TABLE documents (
            id INTEGER PRIMARY KEY,
            folder_id INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
            path TEXT NOT NULL UNIQUE,
            size INTEGER NOT NULL DEFAULT 0,
            mtime_ns INTEGER NOT NULL DEFAULT 0,
            sha256 TEXT,
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'indexed', 'failed', 'skipped')),
            error TEXT,
            chunk_count INTEGER NOT NULL DEFAULT 0,
            indexed_at TEXT
        );
        CREATE INDEX documents_folder ON documents(folder_id);
        CREATE INDEX documents_status ON documents(status);
        CREATE TABLE chunks (
            id INTEGER PRIMARY KEY,
            document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
            ord INTEGER NOT NULL,
            text TEXT NOT NULL,
            heading TEXT NOT NULL DEFAULT '',
            page INTEGER,
            start INTEGER NOT NULL DEFAULT 0,
            "end" INTEGER NOT NULL DEFAULT 0,
            tokens INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX chunks_document ON chunks(document_id, ord);
        CREATE VIRTUAL TABLE chunks_fts USING fts5(
            text, heading, content='chunks', content_rowid='id',
            tokenize='porter unicode61 remove_diacritics 2'
        );
        CREATE TRIGGER chunks_ai AFTER INSERT ON chunks BEGIN
            INSERT INTO chunks_fts(rowid, text, heading)
                VALUES (new.id, new.text, new.heading);
        END;
        CREATE TRIGGER chunks_ad AFTER DELETE ON chunks BEGIN
            INSERT INTO chunks_fts(chunks_fts, rowid, text, heading)
                VALUES ('delete', old.id, old.text, old.heading);
        END;
        CREATE TRIGGER chunks_au AFTER UPDATE OF text, heading ON chunks BEGIN
            INSERT INTO chunks_fts(chunks_fts, rowid, text, heading)
                VALUES ('delete', old.id, old.text, old.heading);
            INSERT INTO chunks_fts(rowid, text, heading)
                VALUES (new.id, new.text, new.heading);
        END;
        CREATE TABLE kb_meta (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        """


def m007_chunk_flags() -> str:
    """Chunks whose text tries to instruct the assistant (prompt injection),
    flagged at index time so the UI can warn; ``reasons`` is a JSON list of
    short labels. A flag dies with its chunk."""
    return """
        CREATE TABLE chunk_flags (
            chunk_id INTEGER PRIMARY KEY REFERENCES chunks(id) ON DELETE CASCADE,
            reasons TEXT NOT NULL DEFAULT '[]'
        );
        CREATE TRIGGER chunk_flags_ad AFTER DELETE ON chunks BEGIN
            DELETE FROM chunk_flags WHERE chunk_id = old.id;
        END;
        """


def m011_duplicates() -> str:
    """Duplicate documents (``backend.knowledge.dedupe``): each document's
    normalised-text hash and MinHash signature, and for a duplicate the
    canonical document it copies (its own chunks are not stored). Failed
    documents are queued again: under the skip rules an image or an
    archive is skipped, not failed."""
    return """
        ALTER TABLE documents ADD COLUMN text_hash TEXT;
        ALTER TABLE documents ADD COLUMN minhash BLOB;
        ALTER TABLE documents ADD COLUMN duplicate_of INTEGER
            REFERENCES documents(id) ON DELETE SET NULL;
        CREATE INDEX documents_duplicate_of ON documents(duplicate_of);
        UPDATE documents SET status = 'pending' WHERE status = 'failed';
        """
