"""The summary that stands for a long conversation's oldest turns.

One row per conversation: the chat turn writes it when history stops
fitting the context window (``backend.chat.summary``), the user may rewrite
it, and every later turn puts the same text in the prompt, so the prefix
stays byte-identical (the runtime's KV cache is reused) until more turns
need folding. It covers the thread up to ``through_message_id``; on another
branch that message is not on the thread and the summary is not used.
"""

from __future__ import annotations

from typing import Any

from backend.common.errors import NotFoundError
from backend.store.conversations import now
from backend.store.db import Database
from backend.store.records import ConversationSummary


def _summary(row: Any) -> ConversationSummary:
    return ConversationSummary(
        conversation_id=row["conversation_id"],
        through_message_id=row["through_message_id"],
        covered=row["covered"],
        content=row["content"],
        edited=bool(row["edited"]),
        updated_at=row["updated_at"],
    )


class SummaryStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, conversation_id: int) -> ConversationSummary | None:
        row = self.db.query_one(
            "SELECT * FROM conversation_summaries WHERE conversation_id = ?", (conversation_id,)
        )
        return _summary(row) if row else None

    def save(
        self, conversation_id: int, through_message_id: int, covered: int, content: str
    ) -> ConversationSummary:
        """Record (or replace) the model's summary of a conversation."""
        with self.db.transaction() as c:
            c.execute(
                "INSERT INTO conversation_summaries(conversation_id, through_message_id,"
                " covered, content, edited, updated_at) VALUES (?, ?, ?, ?, 0, ?)"
                " ON CONFLICT(conversation_id) DO UPDATE SET"
                " through_message_id = excluded.through_message_id,"
                " covered = excluded.covered, content = excluded.content,"
                " edited = 0, updated_at = excluded.updated_at",
                (conversation_id, through_message_id, covered, content, now()),
            )
        summary = self.get(conversation_id)
        assert summary is not None
        return summary

    def edit(self, conversation_id: int, content: str) -> ConversationSummary:
        """The user's version of the summary (the prompt uses it from the
        next turn on).

        Raises:
            NotFoundError: the conversation has no summary.
            ValueError: ``content`` is empty.
        """
        if not content.strip():
            raise ValueError("a summary cannot be empty")
        with self.db.transaction() as c:
            changed = c.execute(
                "UPDATE conversation_summaries SET content = ?, edited = 1, updated_at = ?"
                " WHERE conversation_id = ?",
                (content, now(), conversation_id),
            ).rowcount
        if not changed:
            raise NotFoundError(f"conversation {conversation_id} has no summary")
        summary = self.get(conversation_id)
        assert summary is not None
        return summary
