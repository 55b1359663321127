"""Named, recorded schema migrations.

Each migration is a named SQL script registered in ``MIGRATIONS`` in order;
applied names are recorded in ``_migrations`` so every database, blank or old,
ends at the same schema. Never edit a released migration: add a new one.

Scripts run through ``executescript`` wrapped in ``BEGIN ... COMMIT`` together
with the row that records them: ``executescript`` commits any open
transaction first, so the BEGIN must be inside the script for a migration and
its record to land atomically (a crash mid-migration leaves neither).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from backend.common.errors import StoreError
from backend.store.db import Database, DatabaseError

Migration = Callable[[], str]
MIGRATIONS: list[tuple[str, str]] = []


def migration(fn: Migration) -> Migration:
    """Register ``fn``'s returned SQL under ``fn``'s name."""
    MIGRATIONS.append((fn.__name__, fn()))
    return fn


@migration
def m001_conversations_and_messages() -> str:
    return """
        CREATE TABLE conversations (
            id INTEGER PRIMARY KEY,
            title TEXT NOT NULL,
            model TEXT,
            preset TEXT,
            system_prompt TEXT NOT NULL DEFAULT '',
            selected_root_id INTEGER,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            conversation_id INTEGER NOT NULL
                REFERENCES conversations(id) ON DELETE CASCADE,
            parent_id INTEGER REFERENCES messages(id) ON DELETE CASCADE,
            role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant', 'tool')),
            content TEXT NOT NULL,
            model TEXT,
            status TEXT NOT NULL DEFAULT 'complete',
            selected_child_id INTEGER,
            created_at TEXT NOT NULL
        );
        CREATE INDEX messages_conversation ON messages(conversation_id);
        CREATE INDEX messages_parent ON messages(parent_id);
        """


@migration
def m002_messages_fts() -> str:
    return """
        CREATE VIRTUAL TABLE messages_fts USING fts5(
            content, content='messages', content_rowid='id',
            tokenize='unicode61 remove_diacritics 2'
        );
        CREATE TRIGGER messages_ai AFTER INSERT ON messages BEGIN
            INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content);
        END;
        CREATE TRIGGER messages_ad AFTER DELETE ON messages BEGIN
            INSERT INTO messages_fts(messages_fts, rowid, content)
                VALUES ('delete', old.id, old.content);
        END;
        CREATE TRIGGER messages_au AFTER UPDATE OF content ON messages BEGIN
            INSERT INTO messages_fts(messages_fts, rowid, content)
                VALUES ('delete', old.id, old.content);
            INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content);
        END;
        """


@migration
def m003_feedback() -> str:
    return """
        CREATE TABLE feedback (
            message_id INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
            rating INTEGER NOT NULL DEFAULT 0 CHECK (rating IN (-1, 0, 1)),
            edited_content TEXT,
            updated_at TEXT NOT NULL
        );
        """


@migration
def m004_requests() -> str:
    return """
        CREATE TABLE requests (
            id INTEGER PRIMARY KEY,
            conversation_id INTEGER REFERENCES conversations(id) ON DELETE SET NULL,
            message_id INTEGER REFERENCES messages(id) ON DELETE SET NULL,
            parent_request_id INTEGER REFERENCES requests(id) ON DELETE CASCADE,
            stage TEXT NOT NULL DEFAULT 'generate',
            runtime TEXT NOT NULL,
            model TEXT NOT NULL,
            prompt_tokens INTEGER,
            cached_tokens INTEGER,
            completion_tokens INTEGER,
            ttft_ms REAL,
            prefill_tok_s REAL,
            decode_tok_s REAL,
            total_ms REAL,
            stop_reason TEXT,
            error TEXT,
            created_at TEXT NOT NULL
        );
        CREATE INDEX requests_model ON requests(model);
        CREATE INDEX requests_conversation ON requests(conversation_id);
        """


@migration
def m005_presets_and_state() -> str:
    return """
        CREATE TABLE presets (
            name TEXT PRIMARY KEY,
            system_prompt TEXT NOT NULL,
            builtin INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE app_state (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        INSERT INTO presets(name, system_prompt, builtin) VALUES
            ('Assistant',
             'You are a helpful, honest assistant. Answer clearly and concisely.', 1),
            ('Concise',
             'You are a terse assistant. Answer in as few words as possible.', 1),
            ('Coder',
             'You are an expert programmer. Answer with working code in fenced '
             || 'Markdown blocks and explain briefly.', 1);
        """


@migration
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


@migration
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


@migration
def m008_grounded_answers() -> str:
    """Per-conversation "answer from my documents" switch and folder scope,
    the sources each reply was given (numbered as the model saw them, with a
    copy of the passage so a citation survives re-indexing), and a JSON
    ``detail`` on request-log rows (e.g. whether the query rewrite fired and
    helped)."""
    return """
        ALTER TABLE conversations ADD COLUMN use_documents INTEGER;
        ALTER TABLE conversations ADD COLUMN folder_scope TEXT;
        CREATE TABLE message_sources (
            message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
            n INTEGER NOT NULL,
            chunk_id INTEGER,
            path TEXT NOT NULL,
            heading TEXT NOT NULL DEFAULT '',
            page INTEGER,
            start INTEGER NOT NULL DEFAULT 0,
            "end" INTEGER NOT NULL DEFAULT 0,
            text TEXT NOT NULL,
            score REAL NOT NULL DEFAULT 0,
            flags TEXT NOT NULL DEFAULT '[]',
            cited INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (message_id, n)
        );
        ALTER TABLE requests ADD COLUMN detail TEXT;
        """


@migration
def m009_eval_runs() -> str:
    """Evaluation runs kept so a user sees recall over time, and questions
    generated from the user's own documents (``gold`` is a path)."""
    return """
        CREATE TABLE eval_runs (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            label TEXT NOT NULL DEFAULT '',
            questions TEXT NOT NULL DEFAULT '',
            n INTEGER NOT NULL DEFAULT 0,
            metrics TEXT NOT NULL DEFAULT '{}',
            settings TEXT NOT NULL DEFAULT '{}',
            created_at TEXT NOT NULL
        );
        CREATE TABLE eval_questions (
            id INTEGER PRIMARY KEY,
            folder_id INTEGER REFERENCES folders(id) ON DELETE CASCADE,
            q TEXT NOT NULL,
            gold TEXT NOT NULL,
            answer TEXT,
            chunk_id INTEGER,
            created_at TEXT NOT NULL
        );
        """


@migration
def m010_tool_calls() -> str:
    """Per-conversation tools switch (NULL: follow ``[tools] enabled``) and
    the tool calls made while writing each reply, in order, with what came
    back and whether the user approved."""
    return """
        ALTER TABLE conversations ADD COLUMN use_tools INTEGER;
        CREATE TABLE message_tool_calls (
            message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
            step INTEGER NOT NULL,
            call_id TEXT NOT NULL DEFAULT '',
            name TEXT NOT NULL,
            arguments TEXT NOT NULL DEFAULT '{}',
            output TEXT NOT NULL DEFAULT '',
            error TEXT,
            ms REAL NOT NULL DEFAULT 0,
            side_effects INTEGER NOT NULL DEFAULT 0,
            approved INTEGER,
            provenance TEXT NOT NULL DEFAULT '[]',
            PRIMARY KEY (message_id, step)
        );
        """


@migration
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


@migration
def m012_prompt_versions() -> str:
    """Prompt texts stored once per (name, content hash); which versions,
    model file, adapter and generation parameters each request used; the
    messages as sent and the reply (``messages``/``output`` NULL when not
    kept, or purged); and a cache of model-file hashes by path, size and
    mtime, so a GGUF of gigabytes is hashed once."""
    return """
        CREATE TABLE prompt_versions (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            text TEXT NOT NULL,
            created_at TEXT NOT NULL,
            UNIQUE (name, sha256)
        );
        CREATE TABLE request_prompts (
            request_id INTEGER NOT NULL REFERENCES requests(id) ON DELETE CASCADE,
            version_id INTEGER NOT NULL REFERENCES prompt_versions(id),
            PRIMARY KEY (request_id, version_id)
        );
        CREATE INDEX request_prompts_version ON request_prompts(version_id);
        CREATE TABLE request_inputs (
            request_id INTEGER PRIMARY KEY REFERENCES requests(id) ON DELETE CASCADE,
            model_name TEXT NOT NULL,
            model_path TEXT,
            model_size INTEGER,
            model_mtime_ns INTEGER,
            adapter_path TEXT,
            adapter_sha256 TEXT,
            params TEXT NOT NULL DEFAULT '{}',
            messages TEXT,
            tools TEXT,
            output TEXT,
            created_at TEXT NOT NULL
        );
        CREATE TABLE file_hashes (
            path TEXT NOT NULL,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            sha256 TEXT NOT NULL,
            PRIMARY KEY (path, size, mtime_ns)
        );
        """


@migration
def m013_memories() -> str:
    """Long-term memory: short facts about the user, each with where it came
    from (``source``: chat, command, screen, cli, model, tool; the message
    and conversation it was said in) and its embedding (float32, for
    relevance); which memories each reply was given (``message_memories``);
    a conversation's incognito switch (no memory read or written) and its
    pinned memories (JSON ids, chosen once so the prompt prefix stays the
    same turn after turn)."""
    return """
        CREATE TABLE memories (
            id INTEGER PRIMARY KEY,
            text TEXT NOT NULL,
            source TEXT NOT NULL,
            conversation_id INTEGER REFERENCES conversations(id) ON DELETE SET NULL,
            message_id INTEGER REFERENCES messages(id) ON DELETE SET NULL,
            embedding BLOB,
            embedder TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE message_memories (
            message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
            memory_id INTEGER NOT NULL REFERENCES memories(id) ON DELETE CASCADE,
            PRIMARY KEY (message_id, memory_id)
        );
        ALTER TABLE conversations ADD COLUMN incognito INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE conversations ADD COLUMN memory_ids TEXT;
        """


@migration
def m014_conversation_index() -> str:
    """Past chats as a source, and long conversations.

    ``chat_chunks`` holds the searchable pieces of every finished user and
    assistant message (FTS5 in ``chat_chunks_fts``; the vectors, whose
    dimension depends on the embedding model, in ``chat_chunks_vec``, made
    at run time by ``backend.knowledge.chats_index``); ``chat_indexed``
    marks the messages the background indexer has done, so it is
    incremental. Triggers keep both honest: a message whose text changes
    (a reply finished or edited by the user) loses its entries and becomes
    pending again; deleting a message or a conversation cascades.

    ``conversation_summaries``: the summary that stands for a conversation's
    oldest turns once they no longer fit the context window (one per
    conversation, covering its thread up to ``through_message_id``).

    ``message_sources`` learns which kind of source a citation is
    (``document`` or ``conversation``) and, for a past conversation, which
    conversation and message it opens, and its date.
    """
    return """
        CREATE TABLE chat_chunks (
            id INTEGER PRIMARY KEY,
            message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            ord INTEGER NOT NULL,
            text TEXT NOT NULL
        );
        CREATE INDEX chat_chunks_message ON chat_chunks(message_id);
        CREATE INDEX chat_chunks_conversation ON chat_chunks(conversation_id);
        CREATE VIRTUAL TABLE chat_chunks_fts USING fts5(
            text, content='chat_chunks', content_rowid='id',
            tokenize='porter unicode61 remove_diacritics 2'
        );
        CREATE TRIGGER chat_chunks_ai AFTER INSERT ON chat_chunks BEGIN
            INSERT INTO chat_chunks_fts(rowid, text) VALUES (new.id, new.text);
        END;
        CREATE TRIGGER chat_chunks_ad AFTER DELETE ON chat_chunks BEGIN
            INSERT INTO chat_chunks_fts(chat_chunks_fts, rowid, text)
                VALUES ('delete', old.id, old.text);
        END;
        CREATE TABLE chat_indexed (
            message_id INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE
        );
        CREATE TRIGGER chat_index_message_changed AFTER UPDATE OF content, status ON messages
        BEGIN
            DELETE FROM chat_chunks WHERE message_id = new.id;
            DELETE FROM chat_indexed WHERE message_id = new.id;
        END;
        CREATE TRIGGER chat_index_reply_edited AFTER INSERT ON feedback BEGIN
            DELETE FROM chat_chunks WHERE message_id = new.message_id;
            DELETE FROM chat_indexed WHERE message_id = new.message_id;
        END;
        CREATE TRIGGER chat_index_reply_reedited AFTER UPDATE OF edited_content ON feedback
        BEGIN
            DELETE FROM chat_chunks WHERE message_id = new.message_id;
            DELETE FROM chat_indexed WHERE message_id = new.message_id;
        END;
        CREATE TABLE conversation_summaries (
            conversation_id INTEGER PRIMARY KEY
                REFERENCES conversations(id) ON DELETE CASCADE,
            through_message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
            covered INTEGER NOT NULL DEFAULT 0,
            content TEXT NOT NULL,
            edited INTEGER NOT NULL DEFAULT 0,
            updated_at TEXT NOT NULL
        );
        ALTER TABLE message_sources ADD COLUMN kind TEXT NOT NULL DEFAULT 'document';
        ALTER TABLE message_sources ADD COLUMN conversation_id INTEGER;
        ALTER TABLE message_sources ADD COLUMN source_message_id INTEGER;
        ALTER TABLE message_sources ADD COLUMN date TEXT;
        """


def applied(db: Database) -> list[str]:
    rows = db.query("SELECT name FROM _migrations ORDER BY id")
    return [r["name"] for r in rows]


def migrate(db: Database) -> list[str]:
    """Apply every pending migration, each in its own transaction.

    Returns:
        The names applied by this call.
    Raises:
        StoreError: the database is not ours, is corrupt, or is newer than
            this code (it records a migration we do not know).
    """
    try:
        with db.transaction() as c:
            c.execute(
                "CREATE TABLE IF NOT EXISTS _migrations ("
                "id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, applied_at TEXT NOT NULL)"
            )
        done = applied(db)
    except DatabaseError as err:
        raise StoreError(f"{db.path} is not a usable database: {err}") from None
    known = [name for name, _ in MIGRATIONS]
    unknown = [n for n in done if n not in known]
    if unknown:
        raise StoreError(
            f"{db.path} was written by a newer version (unknown migrations: {', '.join(unknown)})"
        )
    ran = []
    for name, sql in MIGRATIONS:
        if name in done:
            continue
        stamp = datetime.now(UTC).isoformat()
        script = (
            f"BEGIN IMMEDIATE;\n{sql}\n;"
            f"INSERT INTO _migrations(name, applied_at) VALUES ('{name}', '{stamp}');\nCOMMIT;"
        )
        with db.locked() as conn:
            try:
                conn.executescript(script)
            except DatabaseError as err:
                if conn.in_transaction:
                    conn.rollback()
                raise StoreError(f"migration {name} failed: {err}") from None
        ran.append(name)
    return ran
