"""The completions service: stateless replies for the OpenAI/Ollama HTTP APIs
(``assistant serve``). Not part of ``backend.api.contract``: those APIs
are its wire form, served in the same process.

OpenAI- and Ollama-style clients send the whole conversation with every
request, so the server does *not* store API calls as conversations: a
script calling the API a thousand times would bury the user's own chats in
their history, and the client already owns the transcript. Each call is
still logged in the request log (tokens, timings, RAG stages) like every
model call, with no conversation attached.

With ``documents=True`` the last user turn is answered from the indexed
folders exactly as chat does it (``backend.chat.grounding``): sources go
with the current user turn, citations are parsed from the reply and
reported in a ``CitationsParsed`` event (``message_id`` 0: nothing stored).

With ``[telemetry] otlp_endpoint`` set, each request is a trace like a chat
turn's (root ``chat`` marked ``assistant.api``, no conversation id), and its
hidden calls keep their inputs in the request log like chat's do.

With ``tools`` (the client's own, ``backend.chat.api_tools``) the model
first decides whether to call one; a call ends the reply as a
``ToolCallProposed`` event and ``Done("tool_calls")`` -- the client runs
it, nothing is executed here. The messages are trimmed to the context
window like a chat turn's (``backend.chat.api_prompt``); a request whose
system and last message alone do not fit raises ``ContextOverflowError``
before anything streams.

With ``params.json_schema`` (the client's ``response_format``/``format``)
the finished reply is validated against the schema (``backend.chat.
structured``); one that does not match ends in an ``ErrorEvent``.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

from backend.chat.api_prompt import check_fits, fit_messages
from backend.chat.api_tools import ApiTools, ToolsUnsupportedError, can_call_tools, decide_api
from backend.chat.grounding import Grounded, RagTurn, ground
from backend.chat.history import surely_fits
from backend.chat.prompt_catalog import builtin, template_part
from backend.chat.stream import ChatStream
from backend.chat.structured import StructuredOutputError, finished_problem
from backend.chat.traced import (
    decision_attributes,
    messages_json,
    model_call,
    reply_json,
    run_traced,
)
from backend.chat.turn import TurnPlan
from backend.common.events import (
    ChatEvent,
    CitationsParsed,
    Done,
    ErrorEvent,
    TextDelta,
    ToolCallProposed,
    Usage,
)
from backend.common.tracing import (
    CONVERSATION_ID,
    FINISH_REASONS,
    INPUT_MESSAGES,
    OUTPUT_MESSAGES,
    STAGE,
    capturing_content,
    span,
    usage_attributes,
)
from backend.local.core import Core
from backend.local.documents import DocumentService
from backend.local.models import ModelService
from backend.local.tools import ToolService
from backend.rag.citations import mark_cited, parse_citations
from backend.runtimes.base import ChatMessage, GenerationParams, GenerationRequest
from backend.runtimes.logged import logged_inputs
from backend.store.request_inputs import RunInputs
from backend.tools.calling import Decision


class CompletionService:
    """Replies to a client's message list, and embeddings, for the HTTP APIs."""

    def __init__(
        self, core: Core, models: ModelService, documents: DocumentService, tools: ToolService
    ) -> None:
        self._core = core
        self._models = models
        self._documents = documents
        self._tools = tools

    async def complete_messages(
        self,
        messages: list[ChatMessage],
        *,
        model: str | None = None,
        params: GenerationParams | None = None,
        documents: bool = False,
        folder_ids: list[int] | None = None,
        tools: ApiTools | None = None,
    ) -> ChatStream:
        """Stream a reply to ``messages`` without storing a conversation;
        with ``tools``, possibly a call to one of them instead.

        Raises:
            ModelError: ``model`` is not available.
            ValueError: no messages, or the last one is empty.
            ToolsUnsupportedError: a call is required but the model cannot
                call tools.
            ContextOverflowError: the system and last message alone do not
                fit the context window.
        """
        if not messages or not any(m.content.strip() for m in messages):
            raise ValueError("messages must contain at least one non-empty message")
        runtime, info = await self._core.run(self._models.resolve, model)
        params = params or GenerationParams()
        if tools is not None and not can_call_tools(runtime, info):
            if tools.required:
                raise ToolsUnsupportedError(
                    f"model {info.name!r} cannot call tools (its runtime can neither "
                    "constrain output to a schema nor take tools natively)"
                )
            tools = None  # "auto": the model answers in text, as chat does

        def fits() -> None:
            if surely_fits(messages, runtime.context_window(info) - params.max_tokens):
                return
            with self._core.generating():  # counting may load the model
                check_fits(runtime, info, messages, params.max_tokens)

        await self._core.run(fits)
        plan = TurnPlan(
            conversation_id=0,
            parent_id=0,
            user_message_id=None,
            runtime=runtime,
            model=info,
            params=params,
            system_prompt="",
            rag=RagTurn(self._documents.pipeline, self._core.stores.sources, folder_ids)
            if documents
            else None,
        )
        return ChatStream(0, partial(self._complete_sync, plan, list(messages), tools))

    def _api_decision(
        self, plan: TurnPlan, tools: ApiTools, emit: Callable[[ChatEvent], None], cancel: Any
    ) -> tuple[Decision, float]:
        """The decision, and a ``ToolCallProposed`` + ``Done`` when it is a
        call (the reply then ends there)."""
        started = time.perf_counter()
        router = self._tools.router() if len(tools.tools) > 1 or not tools.required else None
        decision = decide_api(plan.runtime, plan.model, tools, router, cancel)
        ms = (time.perf_counter() - started) * 1000
        if decision.call is not None:
            self._record_call(plan, decision, ms)  # logged before the client hears of it
            call_id = f"call_{uuid.uuid4().hex[:24]}"
            emit(ToolCallProposed(call_id, 1, decision.call.name, decision.call.arguments))
            usage = decision.usage or Usage(0, 0, ms, ms)
            emit(usage)
            emit(Done("tool_calls"))
        return decision, ms

    def _complete_sync(
        self,
        plan: TurnPlan,
        messages: list[ChatMessage],
        tools: ApiTools | None,
        emit: Callable[[ChatEvent], None],
        cancel: threading.Event,
    ) -> None:
        """The request, traced like a chat turn when tracing is on (a ``chat``
        root with ``assistant.api``, then the same stage spans)."""
        run_traced(
            plan,
            self._core.traces,
            lambda: self._answer(plan, messages, tools, emit, cancel),
            {"assistant.api": True, CONVERSATION_ID: None},  # nothing is stored
        )

    def _answer(
        self,
        plan: TurnPlan,
        messages: list[ChatMessage],
        tools: ApiTools | None,
        emit: Callable[[ChatEvent], None],
        cancel: threading.Event,
    ) -> str | None:
        parts: list[str] = []
        usage: Usage | None = None
        stop, error = "error", None
        grounded = Grounded()
        decision: tuple[Decision, float] | None = None
        dropped = 0
        started = time.perf_counter()
        sent: GenerationRequest | None = None
        used = [p for p in [template_part(plan.runtime, plan.model)] if p is not None]
        with self._core.generating(), contextlib.ExitStack() as stack:
            generated = None
            try:
                if tools is not None:
                    with span("tool_decision", decision_attributes(plan.runtime, plan.model)) as d:
                        decision = self._api_decision(plan, tools, emit, cancel)
                        d.set(usage_attributes(decision[0].usage))
                    if decision[0].call is not None:
                        return None
                prompt = messages
                if plan.rag is not None:
                    window = plan.runtime.context_window(plan.model)
                    budget = window - plan.params.max_tokens
                    share = plan.rag.pipeline.settings.context_share
                    history = [m for m in messages if m.role != "system"]
                    grounded = ground(plan, plan.rag, history, int(budget * share), emit)
                    system = "\n\n".join(
                        t
                        for t in [
                            *(m.content for m in messages if m.role == "system"),
                            grounded.system_rules,
                        ]
                        if t.strip()
                    )
                    used += builtin("rag.instructions")
                    if grounded.user_text is not None:
                        used += builtin("rag.source_framing")
                        history = [*history[:-1], ChatMessage("user", grounded.user_text)]
                    prompt = ([ChatMessage("system", system)] if system else []) + history
                fitted = fit_messages(plan.runtime, plan.model, prompt, plan.params.max_tokens)
                prompt, dropped = fitted.messages, fitted.dropped
                request = GenerationRequest(plan.model, prompt, plan.params)
                sent = request
                attributes = model_call(plan.runtime, plan.model, plan.params)
                if capturing_content():
                    attributes[INPUT_MESSAGES] = messages_json(prompt)
                generated = stack.enter_context(span("generate", {STAGE: "generate", **attributes}))
                for event in plan.runtime.stream(request, cancel):
                    if isinstance(event, Usage):
                        usage = event
                    elif isinstance(event, ErrorEvent):
                        error = event.message
                    elif isinstance(event, Done):
                        stop = event.stop_reason
                        text = "".join(parts)
                        problem = finished_problem(plan.params.json_schema, text, stop, error)
                        if problem is not None:
                            error, stop = problem, "error"
                            emit(ErrorEvent(problem, StructuredOutputError.title))
                            event = Done("error")
                    elif isinstance(event, TextDelta):
                        parts.append(event.text)
                    emit(event)
            except Exception as err:  # reported to the client, never a crash
                error = f"{type(err).__name__}: {err}"
                emit(ErrorEvent(error, getattr(err, "title", "Unexpected runtime error")))
                emit(Done("error"))
            if generated is not None:
                generated.set({**usage_attributes(usage), FINISH_REASONS: [stop]})
                if error is not None:
                    generated.error = "generation_error"
                if capturing_content():
                    generated.set({OUTPUT_MESSAGES: reply_json("".join(parts), stop)})
        if usage is None and error is None:
            ms = (time.perf_counter() - started) * 1000
            usage = Usage(0, 0, ms, ms)
        if grounded.sources:
            cited, unknown = parse_citations("".join(parts), len(grounded.sources))
            grounded.sources = mark_cited(grounded.sources, cited)
            emit(CitationsParsed(0, tuple(cited), tuple(unknown)))
        request_id = self._core.stores.requests.record(
            runtime=plan.runtime.name,
            model=plan.model.name,
            usage=usage,
            stop_reason="error" if error else stop,
            error=error,
            detail=json.dumps({"api": True, **({"trimmed": dropped} if dropped else {})}),
            prompts=used,
            inputs=None if sent is None else logged_inputs(sent, "".join(parts)),
        )
        if decision is not None:
            self._record_decision(plan, *decision, parent=request_id)
        for st in grounded.stages:
            self._core.stores.requests.record(
                runtime=plan.runtime.name if st.usage is not None else "rag",
                model=plan.model.name if st.usage is not None else "",
                usage=st.usage,
                total_ms=st.ms,
                stop_reason="error" if "error" in st.detail else "stop",
                error=st.detail.get("error"),
                stage=st.stage,
                parent_request_id=request_id,
                detail=json.dumps(dict(st.detail), default=str),
                inputs=st.inputs,
            )
        return error

    def _record_call(self, plan: TurnPlan, decision: Decision, ms: float) -> None:
        """The reply was a call: its decision is the request's model call."""
        call = decision.call
        assert call is not None
        self._core.stores.requests.record(
            runtime=plan.runtime.name,
            model=plan.model.name,
            usage=decision.usage or Usage(0, 0, ms, ms),
            total_ms=ms,
            stop_reason="tool_calls",
            detail=json.dumps(
                {
                    "api": True,
                    "tool_call": {"name": call.name, "arguments": call.arguments},
                    "offered": decision.offered,
                    "reply": decision.raw[:500],
                },
                ensure_ascii=False,
            ),
            inputs=_inputs(decision),
        )

    def _record_decision(
        self, plan: TurnPlan, decision: Decision, ms: float, *, parent: int
    ) -> None:
        """A decision for no call, under the reply's row (as the tool loop logs)."""
        self._core.stores.requests.record(
            runtime=plan.runtime.name,
            model=plan.model.name,
            usage=decision.usage,
            total_ms=ms,
            stop_reason="stop",
            stage="tool_decision",
            parent_request_id=parent,
            detail=json.dumps({"offered": decision.offered, "reply": decision.raw[:500]}),
            inputs=_inputs(decision),
        )

    async def embed_texts(self, texts: list[str]) -> tuple[str, list[list[float]], int]:
        """Embed ``texts`` with the knowledge base's embedder: (model name,
        L2-normalised vectors, tokens counted as whitespace words)."""

        def run() -> tuple[str, list[list[float]], int]:
            embedder = self._core.kb.embedder
            if not texts:
                return embedder.name, [], 0
            vectors = embedder.embed(list(texts))
            tokens = sum(len(t.split()) for t in texts)
            return embedder.name, [list(map(float, v)) for v in vectors], tokens

        return await self._core.run(run)


def _inputs(decision: Decision) -> RunInputs | None:
    return None if decision.request is None else logged_inputs(decision.request, decision.raw)
