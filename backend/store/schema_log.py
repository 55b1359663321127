"""Schema migrations: the request log and what explains a reply: grounded-
answer sources, evaluation runs, tool calls, prompt versions and the inputs
of each call.

Each function returns one migration's SQL; ``backend.store.migrations``
lists them in the order they run. Never edit a released one: add a new one."""

from __future__ import annotations


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
