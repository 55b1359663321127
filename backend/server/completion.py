"""One chat completion as both APIs need it: text pieces as they stream,
then a summary (usage, stop reason, citations, error).

Nothing is stored as a conversation (see ``backend.facade_api``). An
unknown model is a 404, bad input a 422, a prompt that cannot fit the
context window or a required tool call the model cannot make a 400, a
model failing mid-answer is reported in the summary (the HTTP status was
already sent when streaming). A reply that is a call to one of the
client's tools ends with ``Summary.tool_calls`` set and no text.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from backend import Backend
from backend.chat.api_tools import ToolsUnsupportedError
from backend.common.errors import ContextOverflowError, ModelError
from backend.common.events import (
    CitationsParsed,
    Done,
    ErrorEvent,
    SourceRef,
    SourcesRetrieved,
    TextDelta,
    ToolCallProposed,
    Usage,
)
from backend.server.errors import ApiError
from backend.server.parsing import ChatCall


@dataclass
class Summary:
    usage: Usage | None = None
    stop: str = "stop"
    error: str | None = None
    sources: list[SourceRef] = field(default_factory=list)
    cited: tuple[int, ...] = ()
    tool_calls: list[ToolCallProposed] = field(default_factory=list)

    @property
    def finish_reason(self) -> str:
        """OpenAI's: ``tool_calls``, ``length`` or ``stop``."""
        if self.tool_calls:
            return "tool_calls"
        return "length" if self.stop == "length" else "stop"

    def citations(self) -> list[dict[str, Any]]:
        return [
            {
                "n": s.n,
                "label": f"S{s.n}",
                "path": s.path,
                "heading": s.heading,
                "page": s.page,
                "start": s.start,
                "end": s.end,
                "text": s.text,
                "score": s.score,
                "cited": s.n in self.cited,
                "flags": list(s.flags),
            }
            for s in self.sources
        ]


async def start(backend: Backend, call: ChatCall) -> Any:
    """The facade's stream, or an ApiError before anything is sent."""
    try:
        return await backend.completions.complete_messages(
            call.messages,
            model=call.model,
            params=call.params,
            documents=call.documents,
            tools=call.tools,
        )
    except ContextOverflowError as err:
        raise ApiError(400, str(err)) from None
    except ModelError as err:
        raise ApiError(404, str(err), "model_not_found") from None
    except ToolsUnsupportedError as err:
        raise ApiError(400, str(err)) from None
    except ValueError as err:
        raise ApiError(422, str(err)) from None


async def pieces(stream: Any, summary: Summary) -> AsyncIterator[str]:
    """Text deltas of ``stream``; fills ``summary`` as events arrive."""
    async for event in stream:
        if isinstance(event, TextDelta):
            if event.text:
                yield event.text
        elif isinstance(event, Usage):
            summary.usage = event
        elif isinstance(event, Done):
            summary.stop = event.stop_reason
        elif isinstance(event, ErrorEvent):
            summary.error = event.message
        elif isinstance(event, SourcesRetrieved):
            summary.sources = list(event.sources)
        elif isinstance(event, CitationsParsed):
            summary.cited = event.cited
        elif isinstance(event, ToolCallProposed):
            summary.tool_calls.append(event)


async def complete(backend: Backend, call: ChatCall) -> tuple[str, Summary]:
    """Run to the end: (text, summary); a model failure is a 502."""
    stream = await start(backend, call)
    summary = Summary()
    text = "".join([p async for p in pieces(stream, summary)])
    if summary.error is not None:
        raise ApiError(502, f"the model failed: {summary.error}", "model_error")
    return text, summary
