"""Typed events that flow from a runtime, through the facade, to the UI and CLI.

Runtimes yield the *runtime* events (``TextDelta``, ``ToolCallEvent``,
``Usage``, ``Done``, ``ErrorEvent``). The facade adds the *chat* events that
only it knows about (``MessageStarted``, ``HistoryTrimmed``, ``MessageSaved``).
Every event is a small frozen dataclass so consumers can ``match`` on type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TextDelta:
    """A piece of generated text, in order."""

    text: str


@dataclass(frozen=True)
class ToolCallEvent:
    """The model asked to call a tool (reserved for the tools issue)."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    call_id: str = ""


@dataclass(frozen=True)
class Usage:
    """Token counts and timings of one model call.

    ``cached_tokens`` is how many prompt tokens were reused from the runtime's
    KV cache (prefix reuse) instead of being processed again; ``prefill_tok_s``
    is measured over the tokens actually processed.
    """

    prompt_tokens: int
    completion_tokens: int
    ttft_ms: float
    total_ms: float
    prefill_tok_s: float | None = None
    decode_tok_s: float | None = None
    cached_tokens: int = 0


@dataclass(frozen=True)
class Done:
    """The call finished. ``stop_reason`` is one of ``stop``, ``length``,
    ``cancelled``, ``error``, ``tool_calls``."""

    stop_reason: str


@dataclass(frozen=True)
class ErrorEvent:
    """The call failed; ``title`` is short and user-facing."""

    message: str
    title: str = "Model error"


RuntimeEvent = TextDelta | ToolCallEvent | Usage | Done | ErrorEvent


@dataclass(frozen=True)
class MessageStarted:
    """The facade stored the user turn and opened the assistant reply."""

    conversation_id: int
    user_message_id: int | None
    assistant_message_id: int
    model: str


@dataclass(frozen=True)
class HistoryTrimmed:
    """Older messages did not fit the context window and were left out of the
    prompt (whole messages only; they stay in the conversation)."""

    dropped_messages: int
    kept_messages: int
    context_tokens: int


@dataclass(frozen=True)
class HistorySummarised:
    """Older messages did not fit the context window and were folded into
    the conversation's summary (``ConversationsAPI.conversation_summary``),
    which the prompt carries in their place. ``summarised_messages`` counts
    every message the summary now stands for."""

    summarised_messages: int
    kept_messages: int
    context_tokens: int


@dataclass(frozen=True)
class ContextMeter:
    """How full the context window is after this reply: the prompt's tokens
    plus the reply's, of ``context_tokens`` (the status line's meter)."""

    used_tokens: int
    context_tokens: int


@dataclass(frozen=True)
class MessageSaved:
    """The assistant reply was written to the store (the last chat event)."""

    message_id: int
    content: str
    stop_reason: str
    request_id: int | None


@dataclass(frozen=True)
class SourceRef:
    """A passage the model was given, numbered as it saw it (``[S{n}]``).

    ``flags`` name injection attempts found in it (the UI warns); ``cited``
    says whether the answer cited it (known once the reply is done);
    ``matched`` that an answer citing nothing restates it
    (``backend.rag.attribution``), shown apart and never a citation.

    ``kind`` is ``document`` (a chunk of an indexed file: ``path``,
    ``heading``, ``page``) or ``conversation`` (a message of a past chat:
    ``path`` is the conversation's title, ``date`` the message's day, and
    opening it shows ``conversation_id`` scrolled to
    ``conversation_message_id``).
    """

    n: int
    chunk_id: int | None
    path: str
    heading: str
    page: int | None
    start: int
    end: int
    text: str
    score: float = 0.0
    flags: tuple[str, ...] = ()
    cited: bool = False
    matched: bool = False
    kind: str = "document"
    conversation_id: int | None = None
    conversation_message_id: int | None = None
    date: str = ""


@dataclass(frozen=True)
class SourcesRetrieved:
    """Retrieval finished before generation: the sources given to the model.

    ``searched`` is the query searched (a follow-up condensed into a
    standalone question), ``rewritten`` the rewrite when retrieval was weak,
    ``stage_ms`` milliseconds per RAG stage so far.
    """

    query: str
    searched: str
    sources: tuple[SourceRef, ...]
    weak: bool = False
    rewritten: str | None = None
    stage_ms: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class CitationsParsed:
    """The reply's ``[Sn]`` markers mapped back to sources (before
    ``MessageSaved``): ``cited`` S-numbers in order of first mention,
    ``unknown`` numbers the model cited but was never given; ``matched``,
    only when it cited none, the sources its sentences restate
    (``backend.rag.attribution``)."""

    message_id: int
    cited: tuple[int, ...]
    unknown: tuple[int, ...] = ()
    matched: tuple[int, ...] = ()


@dataclass(frozen=True)
class ToolCallProposed:
    """The model wants to call a tool (before it runs).

    ``needs_approval``: the UI must answer through ``ChatStream.answer_tool``
    (allow once / for this conversation / deny) before anything runs.
    ``provenance`` names the untrusted text the model had just read when it
    proposed the call (retrieved documents, earlier tool output), so the
    user can see where the idea may have come from.
    """

    call_id: str
    step: int
    name: str
    arguments: dict[str, Any]
    side_effects: bool = False
    needs_approval: bool = False
    provenance: tuple[str, ...] = ()
    source: str = "builtin"


@dataclass(frozen=True)
class ToolCallFinished:
    """A proposed call ran, failed, or was refused; also what is stored
    with the reply (``Backend.message_tool_calls``)."""

    call_id: str
    step: int
    name: str
    arguments: dict[str, Any]
    output: str = ""
    error: str | None = None
    ms: float = 0.0
    side_effects: bool = False
    approved: bool | None = None
    """None: needed no approval; True/False: the user's answer."""
    provenance: tuple[str, ...] = ()


@dataclass(frozen=True)
class MemoryRef:
    """A long-term memory as a reply shows it."""

    id: int
    text: str


@dataclass(frozen=True)
class MemoriesUsed:
    """The memories given to the model for this reply (in the system
    message, before the conversation), sent before the first token."""

    memories: tuple[MemoryRef, ...]


@dataclass(frozen=True)
class MemorySaved:
    """The user's message asked to remember something ("remember that
    ..."), and it was saved as this memory."""

    memory: MemoryRef
    source: str = "chat"


@dataclass(frozen=True)
class SourceRouted:
    """Which source the reply consults (``backend.chat.routing``), and why;
    shown under the reply ("source: documents (python docs)") and kept in
    the request log (stage ``route``).

    ``source`` is one of ``documents``, ``chats``, ``memory``, ``tool``,
    ``none``; ``label`` names what of it (folders, tools); ``tools`` the
    tools the turn may call (only for ``tool``); ``forced`` when the user
    chose it (``@docs``, ``@folder``, ...); ``scores`` the similarity per
    source when it was computed; ``model_call`` when a hidden model call
    decided between the two closest.
    """

    source: str
    reason: str
    label: str = ""
    forced: bool = False
    tools: tuple[str, ...] = ()
    scores: dict[str, float] = field(default_factory=dict)
    model_call: bool = False

    @property
    def chip(self) -> str:
        """The short line shown under the reply."""
        return f"source: {self.source}" + (f" ({self.label})" if self.label else "")


ChatEvent = (
    RuntimeEvent
    | MessageStarted
    | SourceRouted
    | HistoryTrimmed
    | HistorySummarised
    | ContextMeter
    | SourcesRetrieved
    | CitationsParsed
    | ToolCallProposed
    | ToolCallFinished
    | MemoriesUsed
    | MemorySaved
    | MessageSaved
)
