"""The runtime plugin interface.

A runtime turns a list of chat messages into a stream of ``RuntimeEvent``s.
llama.cpp is the first implementation; Ollama, OpenAI-compatible servers and
transformers plug in behind the same class. Runtimes are synchronous and
blocking by design: the facade runs ``stream`` in a worker thread and bridges
it to asyncio, so a runtime never has to know about event loops.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from backend.common.errors import ModelError
from backend.common.events import ErrorEvent, RuntimeEvent, TextDelta, ToolCallEvent, Usage
from backend.modelfiles.catalog import ModelInfo

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True)
class GenerationParams:
    max_tokens: int = 512
    temperature: float = 0.7
    top_p: float = 0.95
    seed: int | None = None
    stop: tuple[str, ...] = ()
    json_schema: str | None = None
    """A JSON schema (as JSON text) the reply must follow. Runtimes with
    ``supports_json_schema`` enforce it while sampling (llama.cpp: a grammar
    compiled from the schema); the others are only asked for JSON."""


@dataclass(frozen=True)
class GenerationRequest:
    model: ModelInfo
    messages: list[ChatMessage]
    params: GenerationParams = field(default_factory=GenerationParams)
    tools: list[dict[str, Any]] | None = None
    """Tools offered in the model's native format (OpenAI's list of
    ``{"type": "function", "function": {name, description, parameters}}``),
    for runtimes whose ``native_tools(model)`` is true. Calls come back as
    ``ToolCallEvent``s; a request with tools is a hidden decision call, so
    its text may arrive in one piece at the end."""
    tool_choice: Literal["auto", "required"] = "auto"
    """``required``: the reply must be one call (runtimes that can
    constrain output enforce it)."""


class Runtime(ABC):
    """A way to run models (llama.cpp in-process, an Ollama server, ...)."""

    #: Short stable id stored in the request log (``llamacpp``, ``fake``...).
    name: str = "runtime"
    #: Whether ``GenerationParams.json_schema`` constrains sampling.
    supports_json_schema: bool = False

    def native_tools(self, model: ModelInfo) -> bool:
        """Whether ``model`` takes ``GenerationRequest.tools`` natively (its
        chat template or server API supports tools). When false, tool
        decisions use the JSON-decision prompt of ``backend.tools.calling``."""
        return False

    @abstractmethod
    def list_models(self) -> list[ModelInfo]:
        """Return the models this runtime can run right now.

        Returns:
            Models, each with a unique ``name``. Never raises for an
            unreachable backend: it returns an empty list instead.
        """

    @abstractmethod
    def context_window(self, model: ModelInfo) -> int:
        """Return the context size (tokens) the runtime will use for ``model``."""

    @abstractmethod
    def count_tokens(self, model: ModelInfo, messages: list[ChatMessage]) -> list[int]:
        """Return the prompt-token cost of each message, in order, including
        the chat template's per-message framing.

        Raises:
            ModelError: the model cannot be loaded.
        """

    @abstractmethod
    def stream(self, request: GenerationRequest, cancel: threading.Event) -> Iterator[RuntimeEvent]:
        """Generate a reply, yielding events as they happen.

        The stream yields zero or more ``TextDelta`` (and, later,
        ``ToolCallEvent``), then exactly one ``Usage`` when anything was
        processed, then exactly one ``Done`` -- or an ``ErrorEvent`` followed
        by ``Done("error")``. Setting ``cancel`` stops generation at the next
        token and ends the stream with ``Done("cancelled")``. Blocking; the
        caller runs it in a thread.
        """

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release models and memory. Optional."""


def complete(
    runtime: Runtime, request: GenerationRequest, cancel: threading.Event | None = None
) -> tuple[str, Usage | None]:
    """Run ``request`` to the end and return its text and usage: for the
    hidden calls (condense, rewrite, tool decisions) nobody watches stream.

    Raises:
        ModelError: the runtime reported an error.
    """
    text, _calls, usage = complete_calls(runtime, request, cancel)
    return text, usage


def complete_calls(
    runtime: Runtime, request: GenerationRequest, cancel: threading.Event | None = None
) -> tuple[str, list[ToolCallEvent], Usage | None]:
    """``complete`` that also returns the native tool calls the reply made.

    Raises:
        ModelError: the runtime reported an error.
    """
    parts: list[str] = []
    calls: list[ToolCallEvent] = []
    usage: Usage | None = None
    for event in runtime.stream(request, cancel or threading.Event()):
        if isinstance(event, TextDelta):
            parts.append(event.text)
        elif isinstance(event, ToolCallEvent):
            calls.append(event)
        elif isinstance(event, Usage):
            usage = event
        elif isinstance(event, ErrorEvent):
            raise ModelError(event.message)
    return "".join(parts), calls, usage
