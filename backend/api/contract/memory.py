"""Contract: long-term memory the user can see, edit and delete."""

from __future__ import annotations

from typing import Literal, Protocol

from backend.store.records import Conversation, Memory, MemoryProposal

MemorySource = Literal["chat", "command", "screen", "cli", "model", "tool"]
ExportFormat = Literal["json", "markdown"]


class MemoryAPI(Protocol):
    """Short facts about the user, kept across conversations, with where
    each came from. Chat reads them (the relevant ones, in the system
    message) unless the conversation is incognito or ``[memory] enabled``
    is off."""

    async def list_memories(self, query: str | None = None) -> list[Memory]:
        """Newest first; ``query``: only those containing it (any case)."""
        ...

    async def add_memory(
        self,
        text: str,
        *,
        source: MemorySource = "screen",
        conversation_id: int | None = None,
        message_id: int | None = None,
    ) -> Memory:
        """Save a memory (the same text twice is kept once: the existing
        one is returned).

        Raises:
            ValueError: empty or too long, or the conversation is incognito.
            NotFoundError: no such conversation.
        """
        ...

    async def update_memory(self, memory_id: int, text: str) -> Memory:
        """Raises:
        NotFoundError: no such memory.
        ValueError: empty or too long.
        """
        ...

    async def delete_memory(self, memory_id: int) -> None:
        """Forget one memory.

        Raises:
            NotFoundError: no such memory.
        """
        ...

    async def clear_memories(self) -> int:
        """Forget every memory; returns how many there were."""
        ...

    async def export_memories(self, format: ExportFormat = "json") -> str:
        """Every memory as JSON (a list of objects) or Markdown."""
        ...

    async def message_memories(self, message_id: int) -> list[Memory]:
        """The memories a reply was given."""
        ...

    async def set_incognito(self, conversation_id: int, incognito: bool) -> Conversation:
        """Incognito: this conversation neither reads nor writes memory."""
        ...

    async def model_writes(self, conversation_id: int | None = None) -> bool:
        """Whether the conversation's model (default: the default model) may
        propose memories and call ``remember`` (``[memory] model_writes``)."""
        ...

    async def propose_memories(self, conversation_id: int) -> list[MemoryProposal]:
        """The model's proposals from the user's messages in the
        conversation; nothing is saved (approve each with ``add_memory``).

        Raises:
            ValueError: the conversation is incognito or memory is off.
            NotFoundError: no such conversation.
        """
        ...
