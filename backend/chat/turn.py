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
from dataclasses import dataclass, field
from typing import Any

from backend.chat.chats_grounding import ChatsTurn, ground_chats, wants_chats
from backend.chat.grounding import Grounded, RagTurn, finish, ground, record_stages
from backend.chat.history import TrimState, fit_history, surely_fits
from backend.chat.memory import MemoryTurn, refs
from backend.chat.prompt_catalog import builtin
from backend.chat.route_turn import RouteTurn, record_route_stage, route_question
from backend.chat.structured import StructuredOutputError, finished_problem
from backend.chat.summary import Folder, model_summariser
from backend.chat.tool_loop import ToolTurn, record_tool_stages, results_turn, run_tools
from backend.chat.traced import messages_json, model_call, reply_json, run_traced
from backend.common.errors import AssistantError
from backend.common.events import (
    ChatEvent,
    ContextMeter,
    Done,
    ErrorEvent,
    HistoryTrimmed,
    MemoriesUsed,
    MemorySaved,
    MessageSaved,
    MessageStarted,
    TextDelta,
    Usage,
)
from backend.common.tracing import (
    FINISH_REASONS,
    INPUT_MESSAGES,
    OUTPUT_MESSAGES,
    STAGE,
    TraceSink,
    capturing_content,
    span,
    usage_attributes,
)
from backend.modelfiles.catalog import ModelInfo
from backend.rag.context import SYSTEM_RULES
from backend.runtimes.base import ChatMessage, GenerationParams, GenerationRequest, Runtime
from backend.runtimes.logged import logged_inputs
from backend.store.conversations import ConversationStore
from backend.store.prompt_versions import PromptPart
from backend.store.records import Message
from backend.store.requests import RequestLog
from backend.store.summaries import SummaryStore


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
    memory: MemoryTurn | None = None
    """Set unless the conversation is incognito (or memory is off); its
    memories are already in ``system_prompt``."""
    prompts: list[PromptPart] = field(default_factory=list)
    """Named prompt texts every call of this turn uses (the system prompt
    or preset, the schema instruction); the turn adds the ones it uses."""
    template: PromptPart | None = None
    """The model's chat template, when the runtime exposes it."""
    chats: ChatsTurn | None = None
    """Set when this turn answers from past conversations (instead of documents)."""
    summaries: SummaryStore | None = None
    """Set to fold old turns into a summary when history outgrows the window
    (``backend.chat.summary``); None leaves them out (``fit_history``)."""
    route: RouteTurn | None = None
    """Set when there is a source to choose: then only the chosen one is
    consulted (retrieval for ``documents``, the tool loop for ``tool``)."""


def prompt_thread(thread: list[Message]) -> tuple[list[ChatMessage], list[int]]:
    """The thread as chat messages, and their message ids: the user's edited
    version of a reply replaces the original, and failed empty replies are
    skipped."""
    out, ids = [], []
    for m in thread:
        if m.role not in ("user", "assistant"):
            continue
        text = m.display_content
        if m.role == "assistant" and not text.strip():
            continue
        out.append(ChatMessage(m.role, text))  # type: ignore[arg-type]
        ids.append(m.id)
    return out, ids


def prompt_messages(thread: list[Message]) -> list[ChatMessage]:
    """``prompt_thread`` without the ids."""
    return prompt_thread(thread)[0]


def run_turn(
    plan: TurnPlan,
    conversations: ConversationStore,
    requests: RequestLog,
    trim_state: TrimState,
    generating: Callable[[], AbstractContextManager[Any]],
    emit: Callable[[ChatEvent], None],
    cancel: threading.Event,
    *,
    traces: TraceSink | None = None,
) -> None:
    """Answer ``plan``; with ``traces`` the turn is also recorded as a
    trace and handed over once the reply is stored."""
    run_traced(
        plan,
        traces,
        lambda: _answer(plan, conversations, requests, trim_state, generating, emit, cancel),
    )


def _answer(
    plan: TurnPlan,
    conversations: ConversationStore,
    requests: RequestLog,
    trim_state: TrimState,
    generating: Callable[[], AbstractContextManager[Any]],
    emit: Callable[[ChatEvent], None],
    cancel: threading.Event,
) -> str | None:
    """Stream and store the reply; the error that ended it, if any."""
    thread = conversations.thread(plan.conversation_id)
    ids = [m.id for m in thread]
    if plan.parent_id in ids:
        thread = thread[: ids.index(plan.parent_id) + 1]
    history, history_ids = prompt_thread(thread)

    reply_id = conversations.add_message(
        plan.conversation_id,
        plan.parent_id,
        "assistant",
        "",
        model=plan.model.name,
        status="streaming",
    )
    emit(MessageStarted(plan.conversation_id, plan.user_message_id, reply_id, plan.model.name))
    if plan.memory is not None:
        if plan.memory.saved is not None:
            emit(MemorySaved(refs([plan.memory.saved])[0]))
        if plan.memory.memories:
            emit(MemoriesUsed(refs(plan.memory.memories)))

    parts: list[str] = []
    usage: Usage | None = None
    stop_reason = "error"
    error: str | None = None
    started = time.perf_counter()
    grounded = Grounded()
    used = list(plan.prompts)
    sent: GenerationRequest | None = None
    window = 0
    with generating():
        try:
            window = plan.runtime.context_window(plan.model)
            budget = window - plan.params.max_tokens
            system_text = plan.system_prompt
            asked = history
            rag, tools, chats = plan.rag, plan.tools, plan.chats
            if plan.route is not None:
                routed = route_question(plan, plan.route, history, emit, cancel)
                if routed.source != "documents":
                    rag = None
                if routed.source != "chats":
                    chats = None
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
                used += builtin("rag.instructions")
                system_text = "\n\n".join(t for t in (system_text.strip(), SYSTEM_RULES) if t)
            if chats is not None:
                grounded = _ground_chats(plan, chats, history, budget, emit)
                history = [*history[:-1], ChatMessage("user", grounded.user_text or "")]
            elif rag is not None:
                share = rag.pipeline.settings.context_share
                grounded = ground(plan, rag, history, int(budget * share), emit)
                if grounded.user_text is not None:
                    used += builtin("rag.source_framing")
                if grounded.user_text is not None:
                    history = [*history[:-1], ChatMessage("user", grounded.user_text)]
            if tools is not None:
                # The decision sees the conversation without the retrieved
                # sources: a document cannot steer which tool is called.
                calls = run_tools(tools, plan.runtime, plan.model, asked, reply_id, emit, cancel)
                if calls:
                    used += builtin("tools.results")
                    question = grounded.user_text or history[-1].content
                    history = [*history[:-1], ChatMessage("user", results_turn(question, calls))]
            if plan.summaries is not None:
                folder = Folder(
                    plan.summaries,
                    plan.conversation_id,
                    lambda ms: plan.runtime.count_tokens(plan.model, ms),
                    model_summariser(plan.runtime, plan.model),
                    window,
                )
                fitted = folder.fit(system_text, history, history_ids, budget, trim_state, emit)
                prompt = fitted.messages
                grounded.stages.extend(folder.stages)
            else:
                prompt = _trimmed(plan, system_text, history, budget, window, trim_state, emit)
            request = GenerationRequest(plan.model, prompt, plan.params)
            sent = request
            attributes = model_call(plan.runtime, plan.model, plan.params)
            if capturing_content():
                attributes[INPUT_MESSAGES] = messages_json(prompt)
            with span("generate", {STAGE: "generate", **attributes}) as generated:
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
                generated.set({**usage_attributes(usage), FINISH_REASONS: [stop_reason]})
                if error is not None:
                    generated.error = "generation_error"
                if capturing_content():
                    generated.set({OUTPUT_MESSAGES: reply_json("".join(parts), stop_reason)})
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
    if plan.rag is not None or plan.chats is not None:
        store = plan.chats.sources if plan.chats is not None else plan.rag.sources  # type: ignore[union-attr]
        finish(grounded, store, reply_id, content, emit)
    conversations.finish_message(reply_id, content, status)
    if plan.memory is not None and plan.memory.memories and plan.memory.store is not None:
        plan.memory.store.record_use(reply_id, [m.id for m in plan.memory.memories])
    inputs = logged_inputs(sent, content) if sent is not None else None
    if plan.template is not None:
        used.append(plan.template)
    request_id = requests.record(
        runtime=plan.runtime.name,
        model=plan.model.log_name,
        usage=usage,
        stop_reason="error" if error else stop_reason,
        error=error,
        conversation_id=plan.conversation_id,
        message_id=reply_id,
        prompts=used,
        inputs=inputs,
    )
    if plan.route is not None:
        record_route_stage(plan.route, requests, plan, reply_id, request_id)
    if grounded.stages:
        record_stages(grounded, requests, plan, reply_id, request_id)
    if plan.tools is not None:
        native = plan.runtime.native_tools(plan.model)
        decision = builtin("tools.native_system" if native else "tools.decision")
        if plan.template is not None:
            decision.append(plan.template)
        record_tool_stages(plan.tools, requests, plan, reply_id, request_id, decision)
    if usage is not None and window:
        emit(ContextMeter(usage.prompt_tokens + usage.completion_tokens, window))
    emit(MessageSaved(reply_id, content, "error" if error else stop_reason, request_id))
    return error


def _ground_chats(
    plan: TurnPlan,
    chats: ChatsTurn,
    history: list[ChatMessage],
    budget: int,
    emit: Callable[[ChatEvent], None],
) -> Grounded:
    """Past chats for the last user message, within half the prompt budget."""

    def count(text: str) -> int:
        return plan.runtime.count_tokens(plan.model, [ChatMessage("user", text)])[0]

    question = wants_chats(history[-1].content)[1] or history[-1].content
    return ground_chats(chats, plan.conversation_id, question, budget // 2, count, emit)


def _trimmed(
    plan: TurnPlan,
    system_text: str,
    history: list[ChatMessage],
    budget: int,
    window: int,
    trim_state: TrimState,
    emit: Callable[[ChatEvent], None],
) -> list[ChatMessage]:
    """The prompt with the oldest messages left out until it fits."""
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
    return prompt
