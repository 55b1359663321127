"""Past conversations as a searchable source: their tables and hybrid search.

Every finished user and assistant message is cut into passages
(``chat_chunks``, with FTS5 keywords) and embedded by the knowledge base's
model into ``chat_chunks_vec`` (sqlite-vec; made here at run time because
its dimension is the model's). ``chat_indexed`` marks the messages done,
so indexing is incremental; the migration's triggers drop a message's
entries when its text changes or it is deleted (``m014_conversation_index``).
The reply's own text is indexed as the user sees it (their edited version
when they made one).

Search fuses bm25 and cosine like the documents' (``scaled_fuse``), with
keyword evidence weighted higher (0.3 rather than 0.1): questions about a
past chat usually name the thing that was said ("what did we decide about
the *Lisbon* trip"), and exact words matter more in chat text than in
documentation. Not tuned on a set: no labelled chat history exists yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from backend.knowledge.embedder import Embedder
from backend.knowledge.search import embed_query, fts_query, scaled_fuse
from backend.knowledge.vector_table import VectorTable, vector_blob
from backend.store.db import Database
from backend.store.records import ChatHit

KEYWORD_WEIGHT = 0.3
PASSAGE_WORDS = 120
"""Words per passage; a longer message becomes overlapping passages."""
OVERLAP_WORDS = 20
VECTORS = VectorTable(
    "chat_chunks_vec", "chat_chunks", "chats_embedding_model", "chats_embedding_dim"
)
_VEC_MAX_K = 4096


@dataclass(frozen=True)
class PendingMessage:
    message_id: int
    conversation_id: int
    role: str
    text: str


def passages(text: str) -> list[str]:
    """``text`` as passages of at most ``PASSAGE_WORDS`` words (overlapping
    by ``OVERLAP_WORDS``); none for blank text."""
    words = text.split()
    if not words:
        return []
    step = PASSAGE_WORDS - OVERLAP_WORDS
    out = []
    for start in range(0, len(words), step):
        out.append(" ".join(words[start : start + PASSAGE_WORDS]))
        if start + PASSAGE_WORDS >= len(words):
            break
    return out


class ChatIndexStore:
    """The past-chats tables of one database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # vectors ----------------------------------------------------------------
    def ensure_vectors(self, model_name: str, dim: int) -> None:
        """Create ``chat_chunks_vec`` for the model; vectors of another
        model are dropped and every message is indexed again (chat history
        is small, and the knowledge base's model is the one to follow)."""
        with self.db.transaction() as c:
            if VECTORS.model(self.db) != (model_name, int(dim)):
                VECTORS.drop(c)
                c.execute("DELETE FROM chat_chunks")
                c.execute("DELETE FROM chat_indexed")
            VECTORS.create(c, model_name, int(dim))

    def model(self) -> str | None:
        recorded = VECTORS.model(self.db)
        return recorded[0] if recorded else None

    # indexing ---------------------------------------------------------------
    def pending(self, limit: int) -> list[PendingMessage]:
        """Finished messages not indexed yet, oldest first."""
        rows = self.db.query(
            "SELECT m.id, m.conversation_id, m.role,"
            " COALESCE(f.edited_content, m.content) AS text FROM messages m"
            " LEFT JOIN feedback f ON f.message_id = m.id"
            " WHERE m.role IN ('user', 'assistant') AND m.status = 'complete'"
            " AND NOT EXISTS (SELECT 1 FROM chat_indexed i WHERE i.message_id = m.id)"
            " AND NOT EXISTS (SELECT 1 FROM conversations c"
            "  WHERE c.id = m.conversation_id AND c.incognito)"  # incognito: never a source
            " ORDER BY m.id LIMIT ?",
            (limit,),
        )
        return [PendingMessage(r["id"], r["conversation_id"], r["role"], r["text"]) for r in rows]

    def write(self, message: PendingMessage, texts: list[str], vectors: np.ndarray) -> bool:
        """Store one message's passages and vectors in one transaction.

        Returns False (and writes nothing) when the message changed or went
        since it was read: its new text is pending again.
        """
        with self.db.transaction() as c:
            row = c.execute(
                "SELECT COALESCE(f.edited_content, m.content) AS text, m.status FROM messages m"
                " LEFT JOIN feedback f ON f.message_id = m.id WHERE m.id = ?",
                (message.message_id,),
            ).fetchone()
            if row is None or row["text"] != message.text or row["status"] != "complete":
                return False
            c.execute("DELETE FROM chat_chunks WHERE message_id = ?", (message.message_id,))
            for ord_, (text, vector) in enumerate(zip(texts, vectors, strict=True)):
                cur = c.execute(
                    "INSERT INTO chat_chunks(message_id, conversation_id, ord, text)"
                    " VALUES (?, ?, ?, ?)",
                    (message.message_id, message.conversation_id, ord_, text),
                )
                c.execute(
                    "INSERT INTO chat_chunks_vec(rowid, embedding) VALUES (?, ?)",
                    (cur.lastrowid, vector_blob(vector, len(vector))),
                )
            c.execute(
                "INSERT OR IGNORE INTO chat_indexed(message_id) VALUES (?)", (message.message_id,)
            )
        return True

    def counts(self) -> dict[str, int]:
        def one(sql: str) -> int:
            return int(self.db.query_one(sql)[0])

        has_vec = self.db.query_one(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='chat_chunks_vec'"
        )
        return {
            "messages": one("SELECT count(*) FROM chat_indexed"),
            "chunks": one("SELECT count(*) FROM chat_chunks"),
            "fts": one("SELECT count(*) FROM chat_chunks_fts_docsize"),
            "vectors": one("SELECT count(*) FROM chat_chunks_vec") if has_vec else 0,
        }

    # search -----------------------------------------------------------------
    def search(
        self,
        embedder: Embedder | None,
        query: str,
        k: int = 5,
        *,
        exclude_conversation_id: int | None = None,
        include_through: int | None = None,
    ) -> list[ChatHit]:
        """The ``k`` best passages of past conversations for ``query``, one
        per message.

        ``exclude_conversation_id``: leave that conversation out (the one
        being answered: its turns are in the prompt already), except its
        messages up to id ``include_through`` (those folded into its
        summary, no longer in the prompt word for word).
        """
        if k <= 0 or not query.strip():
            return []
        pool = max(k * 8, 32)
        keyword = self._keyword(query, pool)
        dense = self._dense(embedder, query, pool) if embedder is not None else []
        fused = scaled_fuse(keyword, dense, KEYWORD_WEIGHT)
        rows = self._rows([cid for cid, _ in fused])
        hits: list[ChatHit] = []
        seen: set[int] = set()
        for chunk_id, score in fused:
            r = rows.get(chunk_id)
            if r is None or r["message_id"] in seen:
                continue
            if r["conversation_id"] == exclude_conversation_id and (
                include_through is None or r["message_id"] > include_through
            ):
                continue
            seen.add(r["message_id"])
            hits.append(
                ChatHit(
                    conversation_id=r["conversation_id"],
                    title=r["title"],
                    date=r["created_at"][:10],
                    message_id=r["message_id"],
                    role=r["role"],
                    snippet=r["text"],
                    score=score,
                )
            )
            if len(hits) == k:
                break
        return hits

    def _keyword(self, query: str, limit: int) -> list[tuple[int, float]]:
        match = fts_query(query)
        if match is None:
            return []
        rows = self.db.query(
            "SELECT rowid AS id, bm25(chat_chunks_fts) AS rank FROM chat_chunks_fts"
            " WHERE chat_chunks_fts MATCH ? ORDER BY rank LIMIT ?",
            (match, limit),
        )
        return [(int(r["id"]), -float(r["rank"])) for r in rows]

    def _dense(self, embedder: Embedder, query: str, limit: int) -> list[tuple[int, float]]:
        if self.model() != embedder.name:
            return []  # not indexed by this model (yet): keywords only
        rows = self.db.query(
            "SELECT rowid, distance FROM chat_chunks_vec WHERE embedding MATCH ? AND k = ?"
            " ORDER BY distance",
            (embed_query(embedder, query), min(limit, _VEC_MAX_K)),
        )
        return [(int(r["rowid"]), 1.0 - float(r["distance"])) for r in rows]

    def _rows(self, chunk_ids: list[int]) -> dict[int, Any]:
        if not chunk_ids:
            return {}
        marks = ",".join("?" * len(chunk_ids))
        rows = self.db.query(
            "SELECT k.id, k.text, k.message_id, k.conversation_id, m.role, m.created_at,"
            f" c.title FROM chat_chunks k JOIN messages m ON m.id = k.message_id"
            f" JOIN conversations c ON c.id = k.conversation_id WHERE k.id IN ({marks})"
            " AND NOT c.incognito",  # switched to incognito after it was indexed
            tuple(chunk_ids),
        )
        return {int(r["id"]): r for r in rows}
