"""The spans of one chat turn, recorded in plain Python.

A turn is traced only when ``[telemetry] otlp_endpoint`` is set: the chat
turn then opens a ``TurnTrace`` and the stages that time themselves
(retrieval and rerank in ``backend.rag``, the rewrite, tool calls, the
generation) each open a ``span``. ``backend.common.otlp`` turns the finished
tree into OpenTelemetry spans with the recorded start and end times.

Why a recorder instead of calling the OpenTelemetry API in each stage:

- nothing of OpenTelemetry is imported unless tracing is configured (the CLI
  stays fast, and ``span`` costs one context-variable lookup when off);
- the SDK is touched once per turn, after the reply is stored, and its
  ``BatchSpanProcessor`` exports in its own thread: tracing never delays a
  token;
- tests check the tree without a collector.

The active trace is a ``ContextVar``: the turn runs in its own thread, and
the stages it calls through the layers find it without a new parameter.
Spans opened inside another span are its children (the rewrite's second
retrieval sits under ``rewrite``).

Attribute names follow the OpenTelemetry GenAI semantic conventions,
pinned at ``SEMCONV_VERSION`` (the last release with GenAI in the main
semantic-conventions repository).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from backend.common.events import Usage

SEMCONV_VERSION = "1.41.0"
SCHEMA_URL = f"https://opentelemetry.io/schemas/{SEMCONV_VERSION}"

AttrValue = str | bool | int | float | list[str]

# GenAI semantic conventions (v1.41.0) ----------------------------------------
OPERATION = "gen_ai.operation.name"
PROVIDER = "gen_ai.provider.name"
REQUEST_MODEL = "gen_ai.request.model"
RESPONSE_MODEL = "gen_ai.response.model"
TEMPERATURE = "gen_ai.request.temperature"
TOP_P = "gen_ai.request.top_p"
MAX_TOKENS = "gen_ai.request.max_tokens"
SEED = "gen_ai.request.seed"
STREAM = "gen_ai.request.stream"
INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
CACHE_READ_TOKENS = "gen_ai.usage.cache_read.input_tokens"
FINISH_REASONS = "gen_ai.response.finish_reasons"
TIME_TO_FIRST_CHUNK = "gen_ai.response.time_to_first_chunk"
"""Seconds from the request to the first streamed chunk (our TTFT)."""
CONVERSATION_ID = "gen_ai.conversation.id"
INPUT_MESSAGES = "gen_ai.input.messages"
OUTPUT_MESSAGES = "gen_ai.output.messages"
SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"
TOOL_NAME = "gen_ai.tool.name"
TOOL_CALL_ID = "gen_ai.tool.call.id"
TOOL_TYPE = "gen_ai.tool.type"
TOOL_ARGUMENTS = "gen_ai.tool.call.arguments"
TOOL_RESULT = "gen_ai.tool.call.result"
RETRIEVAL_QUERY = "gen_ai.retrieval.query.text"
ERROR_TYPE = "error.type"
CONTENT_KEYS = frozenset(
    {INPUT_MESSAGES, OUTPUT_MESSAGES, SYSTEM_INSTRUCTIONS, TOOL_ARGUMENTS, TOOL_RESULT,
     RETRIEVAL_QUERY}
)  # fmt: skip
"""Attributes that carry the user's text: recorded only with ``capture_content``."""

# ours, for what the conventions do not name
STAGE = "assistant.stage"
DECODE_TOK_S = "assistant.decode_tok_s"
PREFILL_TOK_S = "assistant.prefill_tok_s"


@dataclass
class SpanRecord:
    """One span: a name, wall-clock start and end (ns since the epoch),
    attributes, and the spans opened inside it."""

    name: str
    start_ns: int
    end_ns: int | None = None
    attributes: dict[str, AttrValue] = field(default_factory=dict)
    children: list[SpanRecord] = field(default_factory=list)
    error: str | None = None

    def set(self, attributes: Mapping[str, AttrValue | None]) -> None:
        """Set the attributes that have a value (None ones are skipped)."""
        self.attributes.update({k: v for k, v in attributes.items() if v is not None})

    def walk(
        self, parent: SpanRecord | None = None
    ) -> Iterator[tuple[SpanRecord, SpanRecord | None]]:
        """This span and every span under it, each with its parent, parents first."""
        yield self, parent
        for child in self.children:
            yield from child.walk(self)


class TurnTrace:
    """The span tree of one turn; ``root`` is the ``chat`` span."""

    def __init__(self, name: str, attributes: dict[str, AttrValue], capture_content: bool) -> None:
        self.root = SpanRecord(name, time.time_ns(), attributes=dict(attributes))
        self.capture_content = capture_content
        self._open = [self.root]

    @contextmanager
    def span(self, name: str, attributes: dict[str, AttrValue] | None) -> Iterator[SpanRecord]:
        record = SpanRecord(name, time.time_ns(), attributes=dict(attributes or {}))
        self._open[-1].children.append(record)
        self._open.append(record)
        try:
            yield record
        except BaseException as exc:
            record.error = type(exc).__name__
            raise
        finally:
            record.end_ns = time.time_ns()
            self._open.pop()

    def finish(self) -> None:
        if self.root.end_ns is None:
            self.root.end_ns = time.time_ns()


_ACTIVE: ContextVar[TurnTrace | None] = ContextVar("assistant_turn_trace", default=None)


@contextmanager
def tracing_turn(trace: TurnTrace | None) -> Iterator[TurnTrace | None]:
    """Make ``trace`` the active one in this context until the block ends
    (then its root span ends too). None: nothing is traced."""
    if trace is None:
        yield None
        return
    token = _ACTIVE.set(trace)
    try:
        yield trace
    finally:
        _ACTIVE.reset(token)
        trace.finish()


@contextmanager
def span(name: str, attributes: dict[str, AttrValue] | None = None) -> Iterator[SpanRecord]:
    """A child span of the active turn's innermost open span. Without an
    active turn the record is a throwaway, so callers set attributes
    unconditionally."""
    trace = _ACTIVE.get()
    if trace is None:
        yield SpanRecord(name, 0)
        return
    with trace.span(name, attributes) as record:
        yield record


def capturing_content() -> bool:
    """Whether the active turn may record prompt and reply text."""
    trace = _ACTIVE.get()
    return trace is not None and trace.capture_content


def current() -> SpanRecord:
    """The active turn's innermost open span (a throwaway when none), for
    code that adds to a span another layer opened."""
    trace = _ACTIVE.get()
    return trace._open[-1] if trace is not None else SpanRecord("", 0)


def model_call_attributes(
    provider: str,
    model: str,
    *,
    response_model: str | None = None,
    temperature: float | None = None,
    top_p: float | None = None,
    max_tokens: int | None = None,
    seed: int | None = None,
) -> dict[str, AttrValue]:
    """A model call's request side: ``gen_ai.operation.name`` ``chat``, the
    provider (our runtime's name), the model and the sampling parameters."""
    attributes: dict[str, AttrValue | None] = {
        OPERATION: "chat",
        PROVIDER: provider,
        REQUEST_MODEL: model,
        RESPONSE_MODEL: response_model,
        TEMPERATURE: temperature,
        TOP_P: top_p,
        MAX_TOKENS: max_tokens,
        SEED: seed,
        STREAM: True,
    }
    return {k: v for k, v in attributes.items() if v is not None}


def usage_attributes(usage: Usage | None) -> dict[str, AttrValue | None]:
    """A model call's token counts and speeds as span attributes."""
    if usage is None:
        return {}
    return {
        INPUT_TOKENS: usage.prompt_tokens,
        OUTPUT_TOKENS: usage.completion_tokens,
        CACHE_READ_TOKENS: usage.cached_tokens or None,
        TIME_TO_FIRST_CHUNK: usage.ttft_ms / 1000,
        DECODE_TOK_S: usage.decode_tok_s,
        PREFILL_TOK_S: usage.prefill_tok_s,
    }


class TraceSink(Protocol):
    """Where finished turns go (``backend.common.otlp.OtlpTraces``)."""

    @property
    def capture_content(self) -> bool: ...

    def export(self, trace: TurnTrace) -> None: ...
