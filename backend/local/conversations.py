"""The conversations service: conversations and their branches, feedback,
presets and UI state."""

from __future__ import annotations

from backend.common.errors import NotFoundError
from backend.local.core import Core
from backend.local.models import ModelService
from backend.local.replies import ActiveReplies
from backend.store.records import (
    ChatHit,
    Conversation,
    ConversationSummary,
    Message,
    Preset,
    SearchHit,
)

DEFAULT_PRESET = "Assistant"
TITLE_CHARS = 48


def title_from(text: str) -> str:
    """A conversation title from its first message: one line, at most 48 chars."""
    line = " ".join(text.split())
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1].rstrip() + "…"


class ConversationService:
    """Implements ``backend.api.contract.ConversationsAPI``; ``create_now``
    is for the chat service."""

    def __init__(self, core: Core, models: ModelService, replies: ActiveReplies) -> None:
        self._core = core
        self._models = models
        self._replies = replies

    def create_now(self, title: str, model: str | None, preset: str | None) -> Conversation:
        """``create_conversation`` in the calling (worker) thread."""
        if model is not None:
            self._models.resolve(model)
        presets = self._core.stores.presets
        preset_name = preset or DEFAULT_PRESET
        try:
            prompt = presets.get(preset_name).system_prompt
        except NotFoundError:
            if preset is not None:
                raise
            preset_name, prompt = "", ""
        return self._core.stores.conversations.create(title, model, preset_name or None, prompt)

    # the API ---------------------------------------------------------------
    async def list_conversations(self) -> list[Conversation]:
        return await self._core.run(lambda: self._core.stores.conversations.all())

    async def get_conversation(self, conversation_id: int) -> Conversation:
        return await self._core.run(lambda: self._core.stores.conversations.get(conversation_id))

    async def create_conversation(
        self, title: str = "New chat", *, model: str | None = None, preset: str | None = None
    ) -> Conversation:
        return await self._core.run(self.create_now, title, model, preset)

    async def rename_conversation(self, conversation_id: int, title: str) -> Conversation:
        title = title.strip()
        if not title:
            raise ValueError("a title cannot be empty")
        return await self._core.run(
            lambda: self._core.stores.conversations.update(conversation_id, title=title)
        )

    async def delete_conversation(self, conversation_id: int) -> None:
        self._replies.cancel(conversation_id)
        await self._core.run(lambda: self._core.stores.conversations.delete(conversation_id))
        self._replies.forget(conversation_id)

    async def set_conversation_model(self, conversation_id: int, model: str) -> Conversation:
        def run() -> Conversation:
            self._models.resolve(model)
            return self._core.stores.conversations.update(conversation_id, model=model)

        return await self._core.run(run)

    async def set_conversation_preset(self, conversation_id: int, preset: str) -> Conversation:
        def run() -> Conversation:
            p = self._core.stores.presets.get(preset)
            return self._core.stores.conversations.update(
                conversation_id, preset=p.name, system_prompt=p.system_prompt
            )

        return await self._core.run(run)

    async def set_system_prompt(self, conversation_id: int, prompt: str) -> Conversation:
        return await self._core.run(
            lambda: self._core.stores.conversations.update(conversation_id, system_prompt=prompt)
        )

    async def thread(self, conversation_id: int) -> list[Message]:
        return await self._core.run(lambda: self._core.stores.conversations.thread(conversation_id))

    async def switch_branch(self, message_id: int, step: int) -> list[Message]:
        def run() -> list[Message]:
            store = self._core.stores.conversations
            store.select_sibling(message_id, step)
            return store.thread(store.message(message_id).conversation_id)

        return await self._core.run(run)

    async def search_messages(self, query: str, limit: int = 50) -> list[SearchHit]:
        return await self._core.run(lambda: self._core.stores.conversations.search(query, limit))

    async def search_conversations(
        self, query: str, k: int = 5, exclude_conversation_id: int | None = None
    ) -> list[ChatHit]:
        chats = self._core.chats
        return await self._core.run(
            lambda: chats.search(query, k, exclude_conversation_id=exclude_conversation_id)
        )

    async def conversation_summary(self, conversation_id: int) -> ConversationSummary | None:
        return await self._core.run(lambda: self._core.stores.summaries.get(conversation_id))

    async def edit_summary(self, conversation_id: int, text: str) -> ConversationSummary:
        return await self._core.run(lambda: self._core.stores.summaries.edit(conversation_id, text))

    async def rate(self, message_id: int, rating: int) -> Message:
        return await self._core.run(
            lambda: self._core.stores.conversations.set_feedback(message_id, rating=rating)
        )

    async def edit_reply(self, message_id: int, text: str) -> Message:
        return await self._core.run(
            lambda: self._core.stores.conversations.set_feedback(message_id, edited_content=text)
        )

    async def presets(self) -> list[Preset]:
        return await self._core.run(lambda: self._core.stores.presets.all())

    async def save_preset(self, name: str, system_prompt: str) -> Preset:
        return await self._core.run(lambda: self._core.stores.presets.save(name, system_prompt))

    async def delete_preset(self, name: str) -> None:
        await self._core.run(lambda: self._core.stores.presets.delete(name))

    async def get_state(self, key: str, default: str | None = None) -> str | None:
        return await self._core.run(lambda: self._core.stores.state.get(key, default))

    async def set_state(self, key: str, value: str | None) -> None:
        await self._core.run(lambda: self._core.stores.state.set(key, value))
