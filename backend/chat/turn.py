"""One assistant reply, from stored thread to stored answer.

``run_turn`` is the producer behind a ``ChatStream``: it builds the prompt
from the active branch (system prompt first, byte-identical from turn to turn
so the runtime's KV cache is reused), trims it to the context window, streams
the runtime's events to the caller, then stores the reply and one request-log
row, whatever happened (finished, cancelled, failed).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from backend.chat.grounding import Grounded, RagTurn, finish, ground, record_stages
from backend.chat.history import TrimState, fit_history, surely_fits
from backend.chat.route_turn import RouteTurn, record_route_stage, route_question
from backend.chat.structured import StructuredOutputError, finished_problem
from backend.chat.tool_loop import ToolTurn, record_tool_stages, results_turn, run_tools
from backend.common.errors import AssistantError
from backend.common.events import (
    ChatEvent,
    Done,
    ErrorEvent,
    HistoryTrimmed,
    MessageSaved,
    MessageStarted,
    TextDelta,
    Usage,
)
from backend.modelfiles.catalog import ModelInfo
from backend.rag.context import SYSTEM_RULES
from backend.runtimes.base import ChatMessage, GenerationParams, GenerationRequest, Runtime
from backend.store.conversations import ConversationStore
from backend.store.records import Message
from backend.store.requests import RequestLog


@dataclass
class TurnPlan:
    """What to answer: the conversation, the user message the reply goes
    under, and the model that writes it."""

    conversation_id: int
    parent_id: int
    user_message_id: int | None
    runtime: Runtime
    model: ModelInfo
    params: GenerationParams
    system_prompt: str
    rag: RagTurn | None = None
    """Set when the conversation answers from the user's documents."""
    tools: ToolTurn | None = None
    """Set when the conversation may call tools."""
    route: RouteTurn | None = None
    """Set when there is a source to choose: then only the chosen one is
    consulted (retrieval for ``documents``, the tool loop for ``tool``)."""


def prompt_messages(thread: list[Message]) -> list[ChatMessage]:
    """The thread as chat messages: the user's edited version of a reply
    replaces the original, and failed empty replies are skipped."""
    out = []
    for m in thread:
        if m.role not in ("user", "assistant"):
            continue
        text = m.display_content
        if m.role == "assistant" and not text.strip():
            continue
        out.append(ChatMessage(m.role, text))  # type: ignore[arg-type]
    return out


def run_turn(
    plan: TurnPlan,
    conversations: ConversationStore,
    requests: RequestLog,
    trim_state: TrimState,
    generating: Callable[[], AbstractContextManager[Any]],
    emit: Callable[[ChatEvent], None],
    cancel: threading.Event,
) -> None:
    thread = conversations.thread(plan.conversation_id)
    ids = [m.id for m in thread]
    if plan.parent_id in ids:
        thread = thread[: ids.index(plan.parent_id) + 1]
    history = prompt_messages(thread)

    reply_id = conversations.add_message(
        plan.conversation_id,
        plan.parent_id,
        "assistant",
        "",
        model=plan.model.name,
        status="streaming",
    )
    emit(MessageStarted(plan.conversation_id, plan.user_message_id, reply_id, plan.model.name))

    parts: list[str] = []
    usage: Usage | None = None
    stop_reason = "error"
    error: str | None = None
    started = time.perf_counter()
    grounded = Grounded()
    with generating():
        try:
            window = plan.runtime.context_window(plan.model)
            budget = window - plan.params.max_tokens
            system_text = plan.system_prompt
            asked = history
            rag, tools = plan.rag, plan.tools
            if plan.route is not None:
                routed = route_question(plan, plan.route, history, emit, cancel)
                if routed.source != "documents":
                    rag = None
                if routed.source != "tool":
                    tools = None
                elif tools is not None:
                    tools.tools = [t for t in tools.tools if t.name in routed.tools]
                hook = plan.route.consult.get(routed.source)
                if hook is not None and history:
                    context = hook(routed, history[-1].content)
                    if context:
                        turn_text = f"{context}\n\n{history[-1].content}"
                        history = [*history[:-1], ChatMessage("user", turn_text)]
            if plan.rag is not None:
                # the rules stay while the chat answers from documents, even
                # on a turn routed elsewhere: the prompt prefix (KV cache)
                # must not change from turn to turn
                system_text = "\n\n".join(t for t in (system_text.strip(), SYSTEM_RULES) if t)
            if rag is not None:
                share = rag.pipeline.settings.context_share
                grounded = ground(plan, rag, history, int(budget * share), emit)
                if grounded.user_text is not None:
                    history = [*history[:-1], ChatMessage("user", grounded.user_text)]
            if tools is not None:
                # The decision sees the conversation without the retrieved
                # sources: a document cannot steer which tool is called.
                calls = run_tools(tools, plan.runtime, plan.model, asked, reply_id, emit, cancel)
                if calls:
                    question = grounded.user_text or history[-1].content
                    history = [*history[:-1], ChatMessage("user", results_turn(question, calls))]
            system = ChatMessage("system", system_text) if system_text.strip() else None
            prompt = ([system] if system else []) + history
            if trim_state.dropped or not surely_fits(prompt, budget):
                costs = plan.runtime.count_tokens(plan.model, prompt)
                fitted = fit_history(system, history, costs, budget, trim_state)
                prompt = fitted.messages
                if fitted.dropped:
                    emit(
                        HistoryTrimmed(
                            dropped_messages=fitted.dropped,
                            kept_messages=len(fitted.messages),
                            context_tokens=window,
                        )
                    )
            request = GenerationRequest(plan.model, prompt, plan.params)
            for event in plan.runtime.stream(request, cancel):
                if isinstance(event, TextDelta):
                    parts.append(event.text)
                elif isinstance(event, Usage):
                    usage = event
                elif isinstance(event, ErrorEvent):
                    error = event.message
                elif isinstance(event, Done):
                    stop_reason = event.stop_reason
                    problem = finished_problem(
                        plan.params.json_schema, "".join(parts), stop_reason, error
                    )
                    if problem is not None:
                        error, stop_reason = problem, "error"
                        emit(ErrorEvent(problem, StructuredOutputError.title))
                        event = Done("error")
                emit(event)
        except AssistantError as err:
            error = str(err)
            emit(ErrorEvent(error, err.title))
            emit(Done("error"))
        except Exception as err:  # a runtime bug must not kill the app
            error = f"{type(err).__name__}: {err}"
            emit(ErrorEvent(error, "Unexpected runtime error"))
            emit(Done("error"))
    if usage is None and error is None:
        elapsed = (time.perf_counter() - started) * 1000
        usage = Usage(0, 0, elapsed, elapsed)

    content = "".join(parts)
    status = {"stop": "complete", "length": "complete"}.get(stop_reason, stop_reason)
    if error is not None and stop_reason != "error":
        status = "error"
    if plan.rag is not None:
        finish(grounded, plan.rag, reply_id, content, emit)
    conversations.finish_message(reply_id, content, status)
    request_id = requests.record(
        runtime=plan.runtime.name,
        model=plan.model.log_name,
        usage=usage,
        stop_reason="error" if error else stop_reason,
        error=error,
        conversation_id=plan.conversation_id,
        message_id=reply_id,
    )
    if plan.route is not None:
        record_route_stage(plan.route, requests, plan, reply_id, request_id)
    if plan.rag is not None:
        record_stages(grounded, requests, plan, reply_id, request_id)
    if plan.tools is not None:
        record_tool_stages(plan.tools, requests, plan, reply_id, request_id)
    emit(MessageSaved(reply_id, content, "error" if error else stop_reason, request_id))
