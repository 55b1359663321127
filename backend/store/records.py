"""Plain records the store returns and the facade hands to the UI and CLI."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
class ChatHit:
    """A passage of a past conversation found by ``search_conversations``:
    cite it as "conversation *title*, date"; opening it shows
    ``conversation_id`` scrolled to ``message_id``."""

    conversation_id: int
    title: str
    date: str
    """The message's day, ``YYYY-MM-DD`` (UTC)."""
    message_id: int
    role: str
    snippet: str
    score: float = 0.0


@dataclass(frozen=True)
class ConversationSummary:
    """What stands for a long conversation's oldest turns in the prompt.

    It covers the active thread up to and including ``through_message_id``
    (``covered`` messages); ``edited``: the user rewrote it (a later fold
    builds on their text).
    """

    conversation_id: int
    through_message_id: int
    covered: int
    content: str
    edited: bool
    updated_at: str


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


@dataclass(frozen=True)
class PromptRef:
    """One version of a named prompt text (``backend.store.prompt_versions``)."""

    name: str
    """``chat.system``, ``preset:Coder``, ``rag.instructions``, ``template:<model>``..."""
    sha256: str
    """Of the text: the version's identity."""

    @property
    def label(self) -> str:
        return f"{self.name}@{self.sha256[:12]}"


@dataclass(frozen=True)
class PromptVersion:
    """A stored prompt version with the figures of the requests that used it."""

    name: str
    sha256: str
    text: str
    created_at: str
    requests: int = 0
    thumbs_up: int = 0
    thumbs_down: int = 0
    """Ratings of the replies made with it (distinct replies)."""
    ttft_avg_ms: float | None = None
    prompt_tokens_avg: float | None = None
    completion_tokens_avg: float | None = None
    last_used: str | None = None
    eval_runs: tuple[int, ...] = ()
    """Evaluation runs made while this version was the built-in one."""

    @property
    def label(self) -> str:
        return f"{self.name}@{self.sha256[:12]}"


@dataclass(frozen=True)
class LoggedMessage:
    """One message of a logged request, as the runtime received it."""

    role: str
    content: str


@dataclass(frozen=True)
class RequestDetail:
    """One request's full inputs and output (``assistant log show``)."""

    request: RequestRecord
    prompts: tuple[PromptRef, ...] = ()
    model_name: str | None = None
    """The model's picker name (``request.model`` carries the adapter too)."""
    model_path: str | None = None
    model_sha256: str | None = None
    """None when the file was never hashed and has changed (or is gone) since."""
    adapter_path: str | None = None
    adapter_sha256: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    """The ``GenerationParams`` used (temperature, top_p, seed, max_tokens...)."""
    messages: tuple[LoggedMessage, ...] | None = None
    """None: full text was not kept (``[log] keep_full_text``) or was purged."""
    tools: str | None = None
    """Native tools offered (OpenAI JSON), for hidden tool-decision calls."""
    output: str | None = None

    @property
    def greedy(self) -> bool:
        return float(self.params.get("temperature", 1.0)) == 0.0


@dataclass(frozen=True)
class ReplayResult:
    """A logged request run again (``assistant replay``)."""

    request_id: int
    replay_request_id: int
    model: str
    sampling: str
    """``greedy`` (must reproduce), ``seeded`` (same seed; reproduces on the
    same build and hardware) or ``sampled`` (no seed: may differ)."""
    original: str
    replayed: str
    identical: bool
    diff: str
    """Unified diff of original -> replayed output, by line; empty if identical."""
    model_sha256_then: str | None = None
    model_sha256_now: str | None = None
    model_changed: bool = False
    notes: tuple[str, ...] = ()
    """What may explain a difference (model file changed, adapter gone...)."""
    ttft_ms: float | None = None
    completion_tokens: int | None = None


@dataclass(frozen=True)
class DailyTokens:
    """Tokens one model used on one day (UTC), over its reply calls."""

    day: str
    """``YYYY-MM-DD``."""
    model: str
    requests: int
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class DailySpeed:
    """One model's speed on one day (UTC): time to first token p50/p95 and
    mean decode speed, over its successful reply calls."""

    day: str
    model: str
    requests: int
    ttft_p50_ms: float | None
    ttft_p95_ms: float | None
    decode_tok_s: float | None


@dataclass(frozen=True)
class StageTime:
    """Where grounded answers' time goes: one stage summed over them."""

    stage: str
    """``condense``, ``retrieve``, ``rerank``, ``rewrite``, ``tool_decision``,
    ``tool`` or ``generate`` (the stages do not overlap: ``retrieve``
    excludes its rerank; ``rewrite`` includes its second search)."""
    total_ms: float
    count: int
    """How many rows: a stage can run more than once an answer, or not at all."""
    mean_ms: float
    """Per grounded answer (``total_ms / grounded_answers``)."""


@dataclass(frozen=True)
class ThumbsRatio:
    """Thumbs on replies, grouped by the prompt that produced them."""

    prompt: str
    """The group's label: the system prompt version the replies were
    generated with (``preset:Coder@1a2b3c4d5e6f``, ``chat.system@...``), or,
    for replies logged without versions, their conversation's preset name
    (``(custom)`` for a system prompt not taken from a preset)."""
    kind: str
    """What ``prompt`` names: ``version`` or ``preset``."""
    up: int
    down: int
    ratio: float | None
    """``up / (up + down)``; None without votes."""


@dataclass(frozen=True)
class UsageStats:
    """The request log over a period, shaped for charts (``assistant stats``)."""

    since: str | None
    """ISO-8601 UTC start of the period (None: all time)."""
    tokens: list[DailyTokens]
    speed: list[DailySpeed]
    grounded_answers: int
    stages: list[StageTime]
    thumbs: list[ThumbsRatio]
