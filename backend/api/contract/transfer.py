"""Contract: conversation export and import."""

from __future__ import annotations

from typing import Protocol

from backend.store.records import (
    Conversation,
)


class TransferAPI(Protocol):
    """Conversations out of the app and into it (``backend.transfer``):
    text in, text out; reading and writing files is the caller's."""

    async def export_conversations(
        self, conversation_ids: list[int] | None = None, fmt: str = "json"
    ) -> str:
        """The conversations (None: every one, oldest first) as one document.

        ``json``: our format (versioned): every branch, the active one
        marked, feedback (ratings, edited replies), the sources and tool
        calls of each reply, token use; ``import_conversations`` restores
        it exactly (an export of the import is the same JSON). ``md``:
        Markdown, per conversation YAML front matter (title, model, dates,
        token totals) and the active branch, each reply followed by the
        sources it cited.

        Raises:
            NotFoundError: an unknown conversation id.
            ValueError: an unknown format.
        """
        ...

    async def import_conversations(self, text: str) -> list[Conversation]:
        """Add the conversations in ``text``: our JSON export, or ChatGPT's
        ``conversations.json`` (every branch; the one ChatGPT showed last is
        active). All or nothing: the file is checked whole first and
        written in one transaction. Returns the new conversations.

        Raises:
            ImportFormatError: not JSON, neither format, or malformed (the
                message says where); nothing is imported.
        """
        ...
