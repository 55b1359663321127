"""Contract: conversations, presets and the model-call log."""

from __future__ import annotations

from typing import Protocol

from backend.store.records import (
    Conversation,
    Message,
    ModelStats,
    Preset,
    PromptVersion,
    ReplayResult,
    RequestDetail,
    RequestRecord,
    SearchHit,
    UsageStats,
)


class ConversationsAPI(Protocol):
    """Conversations (a tree of branches), feedback, presets and UI state."""

    async def list_conversations(self) -> list[Conversation]: ...

    async def get_conversation(self, conversation_id: int) -> Conversation:
        """Raises: NotFoundError."""
        ...

    async def create_conversation(
        self, title: str = "New chat", *, model: str | None = None, preset: str | None = None
    ) -> Conversation:
        """An empty conversation (``model`` None: the default model; ``preset``
        None: the default preset's system prompt).

        Raises:
            ModelError: ``model`` is not available.
            NotFoundError: no preset of that name.
        """
        ...

    async def rename_conversation(self, conversation_id: int, title: str) -> Conversation:
        """Raises: ValueError (empty title), NotFoundError."""
        ...

    async def delete_conversation(self, conversation_id: int) -> None:
        """Delete it with its messages; a reply being generated is stopped."""
        ...

    async def set_conversation_model(self, conversation_id: int, model: str) -> Conversation:
        """Raises: ModelError (not available), NotFoundError."""
        ...

    async def set_conversation_preset(self, conversation_id: int, preset: str) -> Conversation:
        """Copy the preset's system prompt into the conversation (later edits
        of the preset do not rewrite it)."""
        ...

    async def set_system_prompt(self, conversation_id: int, prompt: str) -> Conversation: ...

    async def thread(self, conversation_id: int) -> list[Message]:
        """The conversation's active branch, oldest first."""
        ...

    async def switch_branch(self, message_id: int, step: int) -> list[Message]:
        """Show the previous (-1) or next (+1) alternative of a message;
        returns the new active thread."""
        ...

    async def search_messages(self, query: str, limit: int = 50) -> list[SearchHit]:
        """Full-text search over every message of every conversation."""
        ...

    async def rate(self, message_id: int, rating: int) -> Message:
        """Thumbs up (1), down (-1) or clear (0) on a reply."""
        ...

    async def edit_reply(self, message_id: int, text: str) -> Message:
        """Store the user's preferred version of a reply (a tune-up target)."""
        ...

    async def presets(self) -> list[Preset]: ...

    async def save_preset(self, name: str, system_prompt: str) -> Preset: ...

    async def delete_preset(self, name: str) -> None: ...

    async def get_state(self, key: str, default: str | None = None) -> str | None:
        """A value the UI remembers between runs (last conversation, theme)."""
        ...

    async def set_state(self, key: str, value: str | None) -> None: ...


class TelemetryAPI(Protocol):
    """The request log: one row per model call and per RAG stage, with the
    prompt versions, model and parameters each call used."""

    async def stats(self) -> list[ModelStats]:
        """Per model: requests, tokens, TTFT p50/p95, decode tok/s."""
        ...

    async def request_log(
        self, limit: int = 100, conversation_id: int | None = None
    ) -> list[RequestRecord]:
        """The latest requests, newest first."""
        ...

    async def request(self, request_id: int) -> RequestRecord | None: ...

    async def request_detail(self, request_id: int) -> RequestDetail:
        """One request's prompt versions, model (file hash, adapter),
        parameters, and the messages as sent and the reply when kept.

        Raises: NotFoundError.
        """
        ...

    async def prompt_versions(self) -> list[PromptVersion]:
        """Every stored prompt version with its request count, thumbs,
        TTFT and token averages, and the evaluation runs made with it."""
        ...

    async def replay(self, request_id: int) -> ReplayResult:
        """Run a logged request again with its messages (so its prompt
        versions), model file, adapter and parameters, and compare replies.

        Raises:
            NotFoundError: no such request.
            ValueError: it has nothing to replay (no inputs, or its text was
                not kept or was purged).
            ModelError: its model or adapter is missing, or the run failed.
        """
        ...

    async def purge_request_texts(self, before: str | None = None) -> int:
        """Clear the kept messages and replies of requests logged before
        ``before`` (an ISO date, UTC; None: all); figures stay. Returns how
        many requests were cleared.

        Raises: ValueError (not a date).
        """
        ...

    async def usage_stats(self, since: str | None = None) -> UsageStats:
        """The log from ``since`` (an ISO-8601 UTC timestamp; None: all of
        it), for charts: tokens per day and model, TTFT p50/p95 and decode
        tok/s per model per day, the stage breakdown of grounded answers,
        and the thumbs ratio per prompt (preset).

        Raises:
            ValueError: ``since`` is not an ISO-8601 timestamp.
        """
        ...
