"""A chat turn's trace: the root ``chat`` span and the model-call attributes.

The GenAI conventions describe a model call by its operation, provider,
requested model and sampling parameters, then its usage and finish
reasons; ``model_call`` gives the first half (for the reply's ``generate``
span and the hidden calls: condense, rewrite, tool decisions) and
``backend.common.tracing.usage_attributes`` the second. Span names are the
request log's stage names, so a trace reads like the request-log screen;
``gen_ai.operation.name`` says which spans are model calls.

Prompt and reply text (``gen_ai.input.messages`` / ``output.messages``, in
the conventions' JSON shape) are added only with ``capture_content``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from backend.common import tracing as t
from backend.runtimes.base import ChatMessage, GenerationParams

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from backend.chat.turn import TurnPlan
    from backend.modelfiles.catalog import ModelInfo
    from backend.runtimes.base import Runtime
    from backend.tools.base import Tool


def model_call(
    runtime: Runtime, model: ModelInfo, params: GenerationParams
) -> dict[str, t.AttrValue]:
    return t.model_call_attributes(
        runtime.name,
        model.name,
        response_model=model.log_name,
        temperature=params.temperature,
        top_p=params.top_p,
        max_tokens=params.max_tokens,
        seed=params.seed,
    )


def start_trace(plan: TurnPlan, sink: t.TraceSink | None) -> t.TurnTrace | None:
    """The turn's trace, or None when tracing is off."""
    if sink is None:
        return None
    return t.TurnTrace(
        "chat",
        {
            t.CONVERSATION_ID: str(plan.conversation_id),
            t.REQUEST_MODEL: plan.model.name,
            t.PROVIDER: plan.runtime.name,
            "assistant.grounded": plan.rag is not None,
            "assistant.tools": plan.tools is not None,
        },
        capture_content=sink.capture_content,
    )


def run_traced(
    plan: TurnPlan,
    sink: t.TraceSink | None,
    answer: Callable[[], str | None],
    root: dict[str, t.AttrValue | None] | None = None,
) -> None:
    """Run ``answer`` (which returns the error that ended the reply, if
    any) as one traced turn when tracing is on: ``root`` attributes added
    to the ``chat`` span (None values remove one), the root marked as an
    error when the turn failed, whichever stage did, and the trace handed to
    ``sink`` after the reply is stored. Tracing never costs a reply."""
    trace = start_trace(plan, sink)
    if trace is not None:
        for key, value in (root or {}).items():
            trace.root.attributes.pop(key, None)
            if value is not None:
                trace.root.attributes[key] = value
    with t.tracing_turn(trace):
        error = answer()
    if trace is None or sink is None:
        return
    if error is not None:
        trace.root.error = "generation_error"
    try:
        sink.export(trace)
    except Exception:
        log.warning("could not export the turn's trace", exc_info=True)


def messages_json(messages: list[ChatMessage]) -> str:
    return json.dumps(
        [{"role": m.role, "parts": [{"type": "text", "content": m.content}]} for m in messages],
        ensure_ascii=False,
    )


def reply_json(text: str, finish_reason: str) -> str:
    message = {
        "role": "assistant",
        "parts": [{"type": "text", "content": text}],
        "finish_reason": finish_reason,
    }
    return json.dumps([message], ensure_ascii=False)


def decision_attributes(runtime: Runtime, model: ModelInfo) -> dict[str, t.AttrValue]:
    """The hidden call that decides on a tool (its sampling is fixed in
    ``backend.tools.calling``)."""
    return {t.STAGE: "tool_decision", **t.model_call_attributes(runtime.name, model.name)}


def tool_attributes(tool: Tool, call_id: str) -> dict[str, t.AttrValue]:
    return {
        t.STAGE: "tool",
        t.OPERATION: "execute_tool",
        t.TOOL_NAME: tool.name,
        t.TOOL_CALL_ID: call_id,
        t.TOOL_TYPE: "function",
        "assistant.tool.side_effects": tool.side_effects,
        "assistant.tool.source": tool.source or tool.origin,
    }
