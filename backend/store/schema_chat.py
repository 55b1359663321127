"""Schema migrations: conversations, messages and what hangs off them:
feedback, presets and app state, long-term memory, the past-chats index and
conversation summaries.

Each function returns one migration's SQL; ``backend.store.migrations``
lists them in the order they run. Never edit a released one: add a new one."""

from __future__ import annotations


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


def m003_feedback() -> str:
    return """
        CREATE TABLE feedback (
            message_id INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
            rating INTEGER NOT NULL DEFAULT 0 CHECK (rating IN (-1, 0, 1)),
            edited_content TEXT,
            updated_at TEXT NOT NULL
        );
        """


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
