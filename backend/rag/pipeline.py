"""The RAG stages composed: condense -> retrieve (+ rerank) -> rewrite when
weak -> numbered, fenced sources.

``RagPipeline`` is what the chat turn and ``Backend.retrieve`` (the
evaluation harness) call, so ``assistant eval retrieval --mode default``
measures exactly what chat uses. Each stage's milliseconds land in the
result's ``stages``; the turn writes them to the request log.

Model calls (condense, rewrite) go through the conversation's runtime. They
are hidden calls with their own prompts, so the runtime's KV cache holds
their prefix afterwards and the chat prompt is processed again from the
first differing token; that is why neither runs unless needed: condense only
for questions that read as follow-ups, rewrite only when retrieval is weak.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Literal

from backend.common.config import LlamaSettings, RagSettings
from backend.common.events import SourceRef
from backend.common.tracing import STAGE, span, usage_attributes
from backend.knowledge.injection import flags_for
from backend.knowledge.service import KnowledgeBase
from backend.modelfiles.catalog import ModelInfo
from backend.modelhub.records import InstalledFolder
from backend.rag import condense as c
from backend.rag import query as q
from backend.rag.context import build_context
from backend.rag.rerank import build_reranker, choose_reranker
from backend.rag.retrieval import retrieve
from backend.rag.types import (
    EVAL_MODES,
    Generate,
    Reranker,
    RerankerInUse,
    RetrievalResult,
    StageTiming,
)
from backend.runtimes.base import ChatMessage

EvalMode = Literal["keyword", "dense", "hybrid", "hybrid+rerank", "rewrite", "default"]


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


class RagPipeline:
    """Retrieval for one knowledge base under one ``[rag]`` configuration.

    The reranker is chosen on every question (``rerank_auto``: a reranker
    pulled or removed while the app runs counts from the next question) and
    built, which loads a model on its first use, only when the choice
    changes.
    """

    def __init__(
        self,
        kb: KnowledgeBase,
        settings: RagSettings,
        *,
        llama: LlamaSettings | None = None,
        catalog: Callable[[], Sequence[ModelInfo]] | None = None,
        downloaded: Callable[[], Sequence[InstalledFolder]] | None = None,
    ) -> None:
        """``llama`` (threads, GPU layers) and ``catalog`` (model names to
        files) are for the LLM reranker; ``downloaded`` lists the rerankers
        the model library pulled (``rerank_auto.downloaded_rerankers``), for
        ``reranker = "auto"``."""
        self.kb = kb
        self.settings = settings
        self.llama = llama
        self.catalog = catalog
        self.downloaded = downloaded
        self._lock = threading.Lock()
        self._reranker: Reranker | None = None
        self._choice: RerankerInUse | None = None

    def reranker_in_use(self) -> RerankerInUse:
        """Which reranker the next question uses, and why (nothing loaded).

        Raises:
            ConfigError: as ``choose_reranker``.
        """
        s = self.settings
        wants_list = s.reranker == "auto" and s.cross_encoder_dir is None and self.downloaded
        return choose_reranker(s, self.downloaded() if wants_list and self.downloaded else ())

    def reranker(self) -> Reranker | None:
        choice = self.reranker_in_use()
        with self._lock:
            same = self._choice is not None and (
                (self._choice.kind, self._choice.path, self._choice.name)
                == (choice.kind, choice.path, choice.name)
            )
            if not same:
                catalog = self.catalog() if self.catalog and choice.kind == "llm" else ()
                built = build_reranker(choice, catalog=catalog, llama=self.llama)
                self._reranker = None if choice.kind == "none" else built
                self._choice = choice
            return self._reranker

    def retrieve(
        self,
        question: str,
        *,
        mode: str = "default",
        k: int | None = None,
        folder_ids: list[int] | None = None,
        history: list[ChatMessage] | None = None,
        generate: Generate | None = None,
    ) -> RetrievalResult:
        """Passages for ``question`` the way ``mode`` says.

        ``keyword``/``dense``/``hybrid``: first stage only. ``hybrid+rerank``:
        hybrid then the configured reranker (the cross-encoder or LLM one;
        none configured = hybrid). ``rewrite``: the default pipeline with the
        rewrite forced. ``default``: what chat uses, per ``[rag]``.
        ``generate`` runs hidden model calls; without it there is no condense
        or rewrite.
        """
        if mode not in EVAL_MODES:
            choices = ", ".join(EVAL_MODES)
            raise ValueError(f"unknown retrieval mode {mode!r}; choose from {choices}")
        s = self.settings
        k = k or s.top_k
        stages: list[StageTiming] = []
        searched = question
        full = mode in ("default", "rewrite")
        if full and s.condense and history and generate and c.needs_condense(question, history):
            started = time.perf_counter()
            with span("condense", {STAGE: "condense"}) as traced:
                condensed = c.condense(question, history, generate)
                traced.set(usage_attributes(condensed.usage))
            searched = condensed.text.strip() or question
            stages.append(
                StageTiming(
                    "condense", _ms(started), {"query": searched}, condensed.usage, condensed.inputs
                )
            )
        first_mode = s.mode if full else ("hybrid" if mode == "hybrid+rerank" else mode)
        reranker = self.reranker() if mode in ("default", "rewrite", "hybrid+rerank") else None
        result = self._first(searched, first_mode, k, folder_ids, reranker)
        stages.extend(result.stages)
        weak = q.is_weak(result.signals)
        wants_rewrite = mode == "rewrite" or (mode == "default" and s.rewrite == "always")
        wants_rewrite = wants_rewrite or (mode == "default" and s.rewrite == "auto" and weak)
        rewritten = None
        helped = None
        hits = result.hits
        if wants_rewrite and generate is not None:
            started = time.perf_counter()
            with span("rewrite", {STAGE: "rewrite", "assistant.weak": weak}) as traced:
                completion = q.rewrite(searched, generate)
                traced.set(usage_attributes(completion.usage))
                rewritten = completion.text.strip() or None
                if rewritten:
                    second = self._first(rewritten, first_mode, k, folder_ids, reranker)
                    helped = q.rewrite_helped(result.signals, second.signals)
                    if helped or not s.merge_only_if_helped:
                        hits = q.merge(result.hits, second.hits, k)
                traced.set({"assistant.rewrite_helped": helped})
            stages.append(
                StageTiming(
                    "rewrite",
                    _ms(started),
                    {"query": rewritten, "weak": weak, "helped": helped},
                    completion.usage,
                    completion.inputs,
                )
            )
        return replace(
            result,
            query=question,
            hits=hits,
            stages=stages,
            searched=searched,
            weak=weak,
            rewritten=rewritten,
            rewrite_helped=helped,
        )

    def _first(
        self,
        text: str,
        mode: str,
        k: int,
        folder_ids: list[int] | None,
        reranker: Reranker | None,
    ) -> RetrievalResult:
        s = self.settings
        embedder = None if mode == "keyword" else self.kb.embedder
        return retrieve(
            self.kb.store,
            embedder,
            text,
            mode=mode,  # type: ignore[arg-type]  # checked against EVAL_MODES
            k=k,
            candidates=max(s.candidates, k),
            folder_ids=folder_ids,
            reranker=reranker,
            max_per_document=s.max_per_document,
        )

    def sources(
        self, result: RetrievalResult, budget_tokens: int, count_tokens: Callable[[str], int]
    ) -> tuple[str, list[SourceRef]]:
        """The fenced ``[S1]``... block for the prompt and the sources in it."""
        flags = flags_for(self.kb.store.db, [h.chunk_id for h in result.hits])
        return build_context(result.hits, flags, budget_tokens, count_tokens)
