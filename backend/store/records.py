"""Plain records the store returns and the facade hands to the UI and CLI."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Conversation:
    id: int
    title: str
    model: str | None
    preset: str | None
    system_prompt: str
    created_at: str
    updated_at: str
    use_documents: bool | None = None
    """Answer from the user's documents: True/False as chosen for this
    conversation, None to follow ``[rag] use_documents``."""
    folder_scope: list[int] | None = None
    """Folder ids this conversation searches; None = every folder."""
    use_tools: bool | None = None
    """Tool calling on/off for this conversation; None follows
    ``[tools] enabled``."""
    incognito: bool = False
    """Long-term memory is neither read nor written in this conversation."""


@dataclass(frozen=True)
class Message:
    """One node of a conversation's message tree, as seen on its branch.

    ``sibling_index``/``sibling_count`` say which of the alternatives under the
    same parent this is (1-based), so the UI can show "2/3" and switch.
    ``content`` is what the model produced; ``edited_content`` is the user's
    preferred version of a reply (the tune-up target), shown instead when set.
    """

    id: int
    conversation_id: int
    parent_id: int | None
    role: str
    content: str
    model: str | None
    status: str
    created_at: str
    sibling_index: int = 1
    sibling_count: int = 1
    rating: int = 0
    edited_content: str | None = None
    request_id: int | None = None

    @property
    def display_content(self) -> str:
        return self.edited_content if self.edited_content is not None else self.content


@dataclass(frozen=True)
class Memory:
    """A short fact about the user, kept across conversations.

    ``source`` says how it was written: ``chat`` ("remember that ..." in a
    message), ``command`` (``/remember``), ``screen`` (the Memory screen),
    ``cli``, ``model`` (a model's proposal the user approved) or ``tool``
    (the ``remember`` tool, approved). ``message_id``/``conversation_id``
    name where it was said (None once that is deleted, or when added by
    hand)."""

    id: int
    text: str
    source: str
    conversation_id: int | None
    message_id: int | None
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class MemoryProposal:
    """A memory the model proposes after a conversation; saved only if the
    user approves it. ``provenance`` names untrusted text that was in the
    conversation (retrieved documents, tool output), shown with it."""

    text: str
    provenance: tuple[str, ...] = ()


@dataclass(frozen=True)
class SearchHit:
    conversation_id: int
    conversation_title: str
    message_id: int
    role: str
    snippet: str


@dataclass(frozen=True)
class Preset:
    name: str
    system_prompt: str
    builtin: bool


@dataclass(frozen=True)
class RequestRecord:
    id: int
    conversation_id: int | None
    message_id: int | None
    stage: str
    runtime: str
    model: str
    prompt_tokens: int | None
    cached_tokens: int | None
    completion_tokens: int | None
    ttft_ms: float | None
    prefill_tok_s: float | None
    decode_tok_s: float | None
    total_ms: float | None
    stop_reason: str | None
    error: str | None
    created_at: str
    parent_request_id: int | None = None
    """The reply's ``generate`` row, for a RAG stage's row."""
    detail: str | None = None
    """JSON with stage specifics (RAG stages: hits, whether a rewrite fired
    and helped, the reranker used)."""


@dataclass(frozen=True)
class ModelStats:
    """Aggregates over the request log for one model."""

    model: str
    runtime: str
    requests: int
    errors: int
    prompt_tokens: int
    completion_tokens: int
    ttft_p50_ms: float | None
    ttft_p95_ms: float | None
    decode_tok_s_avg: float | None
    prefill_tok_s_avg: float | None
