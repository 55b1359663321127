"""The document half of a chat turn: find sources before generating, map the
reply's citations back to them afterwards.

Where things go in the prompt follows the KV-cache rule (DESIGN.md): the
rules about sources are appended to the system prompt (they stay the same
turn after turn while the conversation answers from documents) and the
numbered sources travel with the *current* user turn only, so earlier turns
stay byte-identical and the runtime reuses their cached prefix.

A retrieval failure (e.g. the index was embedded by another model) never
loses the question: the reply is generated without sources and the failure
is recorded on the ``retrieve`` request-log row and reported in the
``SourcesRetrieved`` event.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from backend.chat.prompt_catalog import STAGE_PROMPTS, builtin
from backend.common.events import CitationsParsed, SourceRef, SourcesRetrieved
from backend.rag.attribution import matched_sources
from backend.rag.citations import mark_cited, parse_citations
from backend.rag.context import SYSTEM_RULES, user_turn
from backend.rag.query import generate_with
from backend.rag.types import StageTiming
from backend.runtimes.base import ChatMessage, GenerationParams
from backend.store.requests import RequestLog
from backend.store.sources import SourceStore

if TYPE_CHECKING:
    from collections.abc import Callable

    from backend.chat.turn import TurnPlan
    from backend.common.events import ChatEvent
    from backend.rag.pipeline import RagPipeline

HIDDEN_CALL_TOKENS = 64


@dataclass
class RagTurn:
    """What the turn needs to answer from documents."""

    pipeline: RagPipeline
    sources: SourceStore
    folder_ids: list[int] | None = None


@dataclass
class Grounded:
    """The prompt pieces and records of one grounded turn."""

    system_rules: str = ""
    user_text: str | None = None
    sources: list[SourceRef] = field(default_factory=list)
    stages: list[StageTiming] = field(default_factory=list)
    error: str | None = None


def ground(
    plan: TurnPlan,
    rag: RagTurn,
    history: list[ChatMessage],
    budget_tokens: int,
    emit: Callable[[ChatEvent], None],
) -> Grounded:
    """Retrieve for the last user message of ``history`` and build the
    fenced sources within ``budget_tokens``; emits ``SourcesRetrieved``."""
    if not history or history[-1].role != "user":
        return Grounded()
    question = history[-1].content
    generate = generate_with(
        plan.runtime,
        plan.model,
        GenerationParams(max_tokens=HIDDEN_CALL_TOKENS, temperature=0.0, top_p=1.0, seed=0),
    )
    started = time.perf_counter()
    try:
        result = rag.pipeline.retrieve(
            question,
            history=history[:-1],
            generate=generate,
            folder_ids=rag.folder_ids,
        )
    except Exception as err:  # answer without sources rather than not at all
        error = f"{type(err).__name__}: {err}"
        ms = (time.perf_counter() - started) * 1000
        emit(SourcesRetrieved(question, question, (), stage_ms={"retrieve": ms}))
        return Grounded(
            system_rules=SYSTEM_RULES,
            stages=[StageTiming("retrieve", ms, {"error": error})],
            error=error,
        )

    def count(text: str) -> int:
        return plan.runtime.count_tokens(plan.model, [ChatMessage("user", text)])[0]

    context, sources = rag.pipeline.sources(result, budget_tokens, count)
    stage_ms: dict[str, float] = {}
    for st in result.stages:
        stage_ms[st.stage] = stage_ms.get(st.stage, 0.0) + st.ms
    emit(
        SourcesRetrieved(
            query=question,
            searched=result.searched or question,
            sources=tuple(sources),
            weak=result.weak,
            rewritten=result.rewritten,
            stage_ms=stage_ms,
        )
    )
    return Grounded(
        system_rules=SYSTEM_RULES,
        user_text=user_turn(question, context) if sources else None,
        sources=sources,
        stages=list(result.stages),
    )


def finish(
    grounded: Grounded,
    store: SourceStore,
    reply_id: int,
    content: str,
    emit: Callable[[ChatEvent], None],
) -> None:
    """Map the reply's ``[Sn]`` markers to its sources and store them."""
    if not grounded.sources:
        return
    cited, unknown = parse_citations(content, len(grounded.sources))
    matched = [] if cited or unknown else matched_sources(content, grounded.sources)
    sources = mark_cited(grounded.sources, cited, matched)
    grounded.sources = sources
    store.save(reply_id, sources)
    emit(CitationsParsed(reply_id, tuple(cited), tuple(unknown), tuple(matched)))


def record_stages(
    grounded: Grounded,
    requests: RequestLog,
    plan: TurnPlan,
    reply_id: int,
    generate_request_id: int,
) -> None:
    """One request-log row per RAG stage, under the reply's generate row."""
    for st in grounded.stages:
        detail = dict(st.detail)
        if st.stage == "retrieve":
            detail.setdefault("sources", len(grounded.sources))
            detail.setdefault("cited", sum(1 for s in grounded.sources if s.cited))
        model_call = st.usage is not None
        prompt = STAGE_PROMPTS.get(st.stage) if model_call else None
        prompts = builtin(prompt) if prompt else []
        if prompt and plan.template is not None:
            prompts.append(plan.template)
        requests.record(
            runtime=plan.runtime.name if model_call else "rag",
            model=plan.model.name if model_call else "",
            usage=st.usage,
            total_ms=st.ms,
            stop_reason="error" if "error" in detail else "stop",
            error=detail.get("error"),
            conversation_id=plan.conversation_id,
            message_id=reply_id,
            stage=st.stage,
            parent_request_id=generate_request_id,
            detail=json.dumps(detail, default=str),
            prompts=prompts,
            inputs=st.inputs,
        )
