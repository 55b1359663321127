"""Long-term memories in SQLite: the facts, their embeddings, which reply was
given which memories, and each conversation's pinned set.

Embeddings are stored next to the text (float32 bytes plus the embedder's
name): the store holds tens to a few hundred short facts, so relevance is a
brute-force dot product in numpy (``backend.chat.memory``), and a memory
embedded by another model is embedded again on first use.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from backend.common.errors import NotFoundError
from backend.store.conversations import now
from backend.store.db import Database
from backend.store.records import Memory

MAX_MEMORY_CHARS = 500
"""A memory is a short fact; a longer text is refused (the Memory screen
and the CLI say so)."""


def _memory(row: Any) -> Memory:
    return Memory(
        id=row["id"],
        text=row["text"],
        source=row["source"],
        conversation_id=row["conversation_id"],
        message_id=row["message_id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def clean_text(text: str) -> str:
    """``text`` on one line, trimmed.

    Raises:
        ValueError: empty, or longer than ``MAX_MEMORY_CHARS``.
    """
    one_line = " ".join(text.split())
    if not one_line:
        raise ValueError("a memory cannot be empty")
    if len(one_line) > MAX_MEMORY_CHARS:
        raise ValueError(f"a memory is at most {MAX_MEMORY_CHARS} characters")
    return one_line


class MemoryStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(
        self,
        text: str,
        source: str,
        conversation_id: int | None = None,
        message_id: int | None = None,
    ) -> Memory:
        stamp = now()
        with self.db.transaction() as c:
            cur = c.execute(
                "INSERT INTO memories(text, source, conversation_id, message_id, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                (clean_text(text), source, conversation_id, message_id, stamp, stamp),
            )
            memory_id = int(cur.lastrowid)
        return self.get(memory_id)

    def get(self, memory_id: int) -> Memory:
        row = self.db.query_one("SELECT * FROM memories WHERE id = ?", (memory_id,))
        if row is None:
            raise NotFoundError(f"no memory {memory_id}")
        return _memory(row)

    def all(self, query: str | None = None) -> list[Memory]:
        """Newest first; ``query``: only those whose text contains it (any case)."""
        if query and query.strip():
            like = "%" + query.strip().replace("\\", "\\\\").replace("%", "\\%") + "%"
            rows = self.db.query(
                "SELECT * FROM memories WHERE text LIKE ? ESCAPE '\\' ORDER BY id DESC", (like,)
            )
        else:
            rows = self.db.query("SELECT * FROM memories ORDER BY id DESC")
        return [_memory(r) for r in rows]

    def find(self, text: str) -> Memory | None:
        """The memory with exactly this text (case-insensitive), if any."""
        row = self.db.query_one(
            "SELECT * FROM memories WHERE lower(text) = lower(?)", (" ".join(text.split()),)
        )
        return None if row is None else _memory(row)

    def update(self, memory_id: int, text: str) -> Memory:
        self.get(memory_id)
        with self.db.transaction() as c:
            c.execute(
                "UPDATE memories SET text = ?, embedding = NULL, embedder = NULL, updated_at = ?"
                " WHERE id = ?",
                (clean_text(text), now(), memory_id),
            )
        return self.get(memory_id)

    def delete(self, memory_id: int) -> None:
        self.get(memory_id)
        with self.db.transaction() as c:
            c.execute("DELETE FROM memories WHERE id = ?", (memory_id,))

    def clear(self) -> int:
        with self.db.transaction() as c:
            n = int(c.execute("DELETE FROM memories").rowcount)
            c.execute("UPDATE conversations SET memory_ids = NULL")
            return n

    # embeddings ------------------------------------------------------------
    def vectors(self, embedder: str) -> tuple[list[Memory], np.ndarray | None, list[Memory]]:
        """(memories embedded by ``embedder``, their vectors as rows, memories
        that still need embedding by it)."""
        rows = self.db.query("SELECT * FROM memories ORDER BY id")
        done, vecs, todo = [], [], []
        for r in rows:
            if r["embedding"] is not None and r["embedder"] == embedder:
                done.append(_memory(r))
                vecs.append(np.frombuffer(r["embedding"], dtype=np.float32))
            else:
                todo.append(_memory(r))
        return done, (np.vstack(vecs) if vecs else None), todo

    def set_vectors(self, embedder: str, ids: list[int], vectors: np.ndarray) -> None:
        with self.db.transaction() as c:
            c.executemany(
                "UPDATE memories SET embedding = ?, embedder = ? WHERE id = ?",
                [
                    (np.asarray(v, dtype=np.float32).tobytes(), embedder, i)
                    for i, v in zip(ids, vectors, strict=True)
                ],
            )

    # use -----------------------------------------------------------------
    def pinned(self, conversation_id: int) -> list[int] | None:
        """The conversation's pinned memory ids (None: none chosen yet)."""
        row = self.db.query_one(
            "SELECT memory_ids FROM conversations WHERE id = ?", (conversation_id,)
        )
        if row is None or row["memory_ids"] is None:
            return None
        return [int(i) for i in json.loads(row["memory_ids"])]

    def pin(self, conversation_id: int, memory_ids: list[int]) -> None:
        with self.db.transaction() as c:
            c.execute(
                "UPDATE conversations SET memory_ids = ? WHERE id = ?",
                (json.dumps(memory_ids), conversation_id),
            )

    def many(self, memory_ids: list[int]) -> list[Memory]:
        """These memories in this order, skipping deleted ones."""
        if not memory_ids:
            return []
        marks = ",".join("?" * len(memory_ids))
        rows = self.db.query(f"SELECT * FROM memories WHERE id IN ({marks})", tuple(memory_ids))
        by_id = {r["id"]: _memory(r) for r in rows}
        return [by_id[i] for i in memory_ids if i in by_id]

    def record_use(self, message_id: int, memory_ids: list[int]) -> None:
        with self.db.transaction() as c:
            c.executemany(
                "INSERT OR IGNORE INTO message_memories(message_id, memory_id) VALUES (?, ?)",
                [(message_id, i) for i in memory_ids],
            )

    def used_by(self, message_id: int) -> list[Memory]:
        rows = self.db.query(
            "SELECT m.* FROM message_memories u JOIN memories m ON m.id = u.memory_id"
            " WHERE u.message_id = ? ORDER BY m.id",
            (message_id,),
        )
        return [_memory(r) for r in rows]

    def untrusted_in(self, conversation_id: int) -> tuple[str, ...]:
        """What untrusted text the conversation's replies read: ``retrieved
        documents`` and/or ``tool output``."""
        found = []
        for table, label in (
            ("message_sources", "retrieved documents"),
            ("message_tool_calls", "tool output"),
        ):
            row = self.db.query_one(
                f"SELECT 1 FROM {table} t JOIN messages m ON m.id = t.message_id"
                " WHERE m.conversation_id = ? LIMIT 1",
                (conversation_id,),
            )
            if row is not None:
                found.append(label)
        return tuple(found)
