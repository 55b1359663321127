"""The memory service: the Memory screen's and the CLI's API, and what a
chat turn needs from memory (``turn_for``, ``remember_tool``).

Incognito is checked here, in one place: an incognito conversation gets no
``MemoryTurn`` (nothing read, nothing written from its messages), no
``remember`` tool, no proposals, and ``add_memory`` refuses to attach a
memory to it.
"""

from __future__ import annotations

import json
import threading

from backend.chat.memory import MemoryIndex, MemoryTurn, Selection, pinned_memories
from backend.chat.memory import remember_request as _remember_request
from backend.chat.memory_proposals import model_writes, propose
from backend.local.core import Core
from backend.local.models import ModelService
from backend.store.records import Conversation, Memory, MemoryProposal
from backend.tools.base import Tool
from backend.tools.builtin.memory import make_remember

SOURCES = ("chat", "command", "screen", "cli", "model", "tool")


def export_text(memories: list[Memory], format: str) -> str:
    if format == "json":
        rows = [
            {
                "id": m.id,
                "text": m.text,
                "source": m.source,
                "conversation_id": m.conversation_id,
                "message_id": m.message_id,
                "created_at": m.created_at,
                "updated_at": m.updated_at,
            }
            for m in memories
        ]
        return json.dumps(rows, ensure_ascii=False, indent=2) + "\n"
    if format == "markdown":
        lines = ["# Memories", ""]
        for m in memories:
            where = f", conversation {m.conversation_id}" if m.conversation_id else ""
            lines.append(f"- {m.text}  _({m.source}{where}, {m.created_at[:10]})_")
        return "\n".join(lines) + "\n"
    raise ValueError(f"unknown export format {format!r}: json or markdown")


class MemoryService:
    """Implements ``backend.api.contract.MemoryAPI``."""

    def __init__(self, core: Core, models: ModelService) -> None:
        self._core = core
        self._models = models
        self._lock = threading.Lock()
        self._index: MemoryIndex | None = None

    # for other services (sync) ---------------------------------------------
    @property
    def index(self) -> MemoryIndex:
        with self._lock:
            if self._index is None:
                self._index = MemoryIndex(self._core.stores.memories, self._core.kb.embedder)
            return self._index

    def active(self, conv: Conversation) -> bool:
        return self._core.settings.memory.enabled and not conv.incognito

    def remember_request(self, conv: Conversation, text: str, message_id: int) -> Memory | None:
        """Save what ``text`` (the user's own message) asks to remember, if
        it asks and memory is on for ``conv``."""
        fact = _remember_request(text) if self.active(conv) else None
        if fact is None:
            return None
        return self._add(fact, "chat", conv.id, message_id)

    def turn_for(
        self, conv: Conversation, question: str, saved: Memory | None = None
    ) -> MemoryTurn | None:
        """The memories for a turn of ``conv`` (None: incognito or memory off)."""
        if not self.active(conv):
            return None
        m = self._core.settings.memory
        selection = Selection(m.top_k, m.min_score, m.max_tokens)
        chosen = pinned_memories(self.index, conv.id, question, selection)
        return MemoryTurn(chosen, saved, self._core.stores.memories)

    def remember_tool(self, conv: Conversation) -> Tool | None:
        """The ``remember`` tool for ``conv``, when its model may write memories."""
        if not self.active(conv) or not self._writes(conv.model):
            return None

        def save(fact: str) -> str:
            memory = self._add(fact, "tool", conv.id, None)
            return f"Saved to memory: {memory.text}"

        return make_remember(save)

    # internals ---------------------------------------------------------------
    def _writes(self, model_name: str | None) -> bool:
        _, model = self._models.resolve(model_name)
        m = self._core.settings.memory
        return model_writes(m.model_writes, model, m.min_params_b)

    def _add(
        self, text: str, source: str, conversation_id: int | None, message_id: int | None
    ) -> Memory:
        if source not in SOURCES:
            raise ValueError(f"unknown memory source {source!r}")
        stores = self._core.stores
        if conversation_id is not None:
            conv = stores.conversations.get(conversation_id)
            if conv.incognito:
                raise ValueError("this conversation is incognito: it does not write memories")
        existing = stores.memories.find(text)
        if existing is not None:
            return existing
        return stores.memories.add(text, source, conversation_id, message_id)

    # the API -----------------------------------------------------------------
    async def list_memories(self, query: str | None = None) -> list[Memory]:
        return await self._core.run(self._core.stores.memories.all, query)

    async def add_memory(
        self,
        text: str,
        *,
        source: str = "screen",
        conversation_id: int | None = None,
        message_id: int | None = None,
    ) -> Memory:
        return await self._core.run(self._add, text, source, conversation_id, message_id)

    async def update_memory(self, memory_id: int, text: str) -> Memory:
        return await self._core.run(self._core.stores.memories.update, memory_id, text)

    async def delete_memory(self, memory_id: int) -> None:
        await self._core.run(self._core.stores.memories.delete, memory_id)

    async def clear_memories(self) -> int:
        return await self._core.run(self._core.stores.memories.clear)

    async def export_memories(self, format: str = "json") -> str:
        memories = await self._core.run(self._core.stores.memories.all)
        return export_text(list(reversed(memories)), format)

    async def message_memories(self, message_id: int) -> list[Memory]:
        return await self._core.run(self._core.stores.memories.used_by, message_id)

    async def set_incognito(self, conversation_id: int, incognito: bool) -> Conversation:
        return await self._core.run(
            lambda: self._core.stores.conversations.update(conversation_id, incognito=incognito)
        )

    async def model_writes(self, conversation_id: int | None = None) -> bool:
        def run() -> bool:
            if conversation_id is None:
                return self._writes(None)
            return self._writes(self._core.stores.conversations.get(conversation_id).model)

        return await self._core.run(run)

    async def propose_memories(self, conversation_id: int) -> list[MemoryProposal]:
        def run() -> list[MemoryProposal]:
            stores = self._core.stores
            conv = stores.conversations.get(conversation_id)
            if not self.active(conv):
                raise ValueError("memory is off for this conversation (incognito or disabled)")
            runtime, model = self._models.resolve(conv.model)
            thread = stores.conversations.thread(conversation_id)
            known = stores.memories.all()
            with self._core.generating():
                facts = propose(runtime, model, thread, known)
            provenance = stores.memories.untrusted_in(conversation_id)
            return [MemoryProposal(f, provenance) for f in facts]

        return await self._core.run(run)
