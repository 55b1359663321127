"""The conversations half of the ``Backend`` facade: conversations and
their branches, feedback, presets, UI state, and the request log. ``Backend``
inherits these; everything runs through its ``_run`` (a worker thread)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from backend.common.errors import NotFoundError
from backend.store.conversations import ConversationStore
from backend.store.records import (
    Conversation,
    Message,
    ModelStats,
    Preset,
    RequestRecord,
    SearchHit,
)
from backend.store.requests import RequestLog
from backend.store.settings_store import PresetStore, StateStore

if TYPE_CHECKING:
    from backend.chat.history import TrimState
    from backend.chat.stream import ChatStream
    from backend.modelfiles.catalog import ModelInfo
    from backend.runtimes.base import Runtime

T = TypeVar("T")
DEFAULT_PRESET = "Assistant"


class ConversationMethods:
    """Mixed into ``Backend``; relies on its stores and model resolution."""

    conversations: ConversationStore
    presets_store: PresetStore
    state: StateStore
    requests: RequestLog
    _streams: dict[int, ChatStream]
    _trim: dict[int, TrimState]

    if TYPE_CHECKING:  # provided by Backend

        async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T: ...

        def _resolve_model(self, name: str | None) -> tuple[Runtime, ModelInfo]: ...

    # conversations -----------------------------------------------------
    async def list_conversations(self) -> list[Conversation]:
        return await self._run(self.conversations.all)

    async def get_conversation(self, conversation_id: int) -> Conversation:
        return await self._run(self.conversations.get, conversation_id)

    def _create_sync(self, title: str, model: str | None, preset: str | None) -> Conversation:
        if model is not None:
            self._resolve_model(model)
        preset_name = preset or DEFAULT_PRESET
        try:
            prompt = self.presets_store.get(preset_name).system_prompt
        except NotFoundError:
            if preset is not None:
                raise
            preset_name, prompt = "", ""
        return self.conversations.create(title, model, preset_name or None, prompt)

    async def create_conversation(
        self, title: str = "New chat", *, model: str | None = None, preset: str | None = None
    ) -> Conversation:
        """Start an empty conversation (model None = the default model)."""
        return await self._run(self._create_sync, title, model, preset)

    async def rename_conversation(self, conversation_id: int, title: str) -> Conversation:
        title = title.strip()
        if not title:
            raise ValueError("a title cannot be empty")
        return await self._run(self.conversations.update, conversation_id, title=title)

    async def delete_conversation(self, conversation_id: int) -> None:
        stream = self._streams.get(conversation_id)
        if stream:
            stream.cancel()
        await self._run(self.conversations.delete, conversation_id)
        self._trim.pop(conversation_id, None)

    async def set_conversation_model(self, conversation_id: int, model: str) -> Conversation:
        def run() -> Conversation:
            self._resolve_model(model)
            return self.conversations.update(conversation_id, model=model)

        return await self._run(run)

    async def set_conversation_preset(self, conversation_id: int, preset: str) -> Conversation:
        """Apply a preset: its system prompt is copied into the conversation,
        so later edits of the preset do not rewrite this conversation."""

        def run() -> Conversation:
            p = self.presets_store.get(preset)
            return self.conversations.update(
                conversation_id, preset=p.name, system_prompt=p.system_prompt
            )

        return await self._run(run)

    async def set_system_prompt(self, conversation_id: int, prompt: str) -> Conversation:
        return await self._run(self.conversations.update, conversation_id, system_prompt=prompt)

    async def thread(self, conversation_id: int) -> list[Message]:
        """The conversation's active branch, oldest first."""
        return await self._run(self.conversations.thread, conversation_id)

    async def switch_branch(self, message_id: int, step: int) -> list[Message]:
        """Show the previous (-1) or next (+1) alternative of a message;
        returns the new active thread."""

        def run() -> list[Message]:
            self.conversations.select_sibling(message_id, step)
            return self.conversations.thread(self.conversations.message(message_id).conversation_id)

        return await self._run(run)

    async def search_messages(self, query: str, limit: int = 50) -> list[SearchHit]:
        return await self._run(self.conversations.search, query, limit)

    # feedback ----------------------------------------------------------
    async def rate(self, message_id: int, rating: int) -> Message:
        """Thumbs up (1), down (-1) or clear (0) on a reply."""
        return await self._run(self.conversations.set_feedback, message_id, rating=rating)

    async def edit_reply(self, message_id: int, text: str) -> Message:
        """Store the user's preferred version of a reply (tune-up target)."""
        return await self._run(self.conversations.set_feedback, message_id, edited_content=text)

    # presets and state -------------------------------------------------
    async def presets(self) -> list[Preset]:
        return await self._run(self.presets_store.all)

    async def save_preset(self, name: str, system_prompt: str) -> Preset:
        return await self._run(self.presets_store.save, name, system_prompt)

    async def delete_preset(self, name: str) -> None:
        await self._run(self.presets_store.delete, name)

    async def get_state(self, key: str, default: str | None = None) -> str | None:
        return await self._run(self.state.get, key, default)

    async def set_state(self, key: str, value: str | None) -> None:
        await self._run(self.state.set, key, value)

    # telemetry ---------------------------------------------------------
    async def stats(self) -> list[ModelStats]:
        return await self._run(self.requests.stats)

    async def request_log(
        self, limit: int = 100, conversation_id: int | None = None
    ) -> list[RequestRecord]:
        return await self._run(self.requests.recent, limit, conversation_id)

    async def request(self, request_id: int) -> RequestRecord | None:
        return await self._run(self.requests.get, request_id)
