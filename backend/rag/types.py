"""Records passed between the RAG stages (no logic here)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from backend.common.errors import AssistantError
from backend.common.events import Usage
from backend.knowledge.records import DocumentHit
from backend.runtimes.base import ChatMessage
from backend.store.request_inputs import RunInputs


@dataclass(frozen=True)
class StageTiming:
    """One RAG stage as the request log records it (``stage`` is one of
    ``condense``, ``retrieve``, ``rerank``, ``rewrite``, ``generate``)."""

    stage: str
    ms: float
    detail: dict[str, Any] = field(default_factory=dict)
    usage: Usage | None = None
    """Token counts when the stage called a model."""
    inputs: RunInputs | None = None
    """What that model call was sent and returned (logged, replayable)."""


@dataclass(frozen=True)
class RetrievalSignals:
    """What first-stage retrieval says about its own confidence.

    ``dense_top`` is the best cosine similarity (None without vectors),
    ``dense_gap`` the best minus the fifth best, ``keyword_top`` the best
    -bm25, ``keyword_hits`` how many chunks matched any query word, and
    ``overlap`` the share of the top k found by both keyword and dense search.
    """

    dense_top: float | None = None
    dense_gap: float | None = None
    keyword_top: float | None = None
    keyword_hits: int = 0
    overlap: float = 0.0


@dataclass
class RetrievalResult:
    """Passages for one question, best first, and how they were found."""

    query: str
    """The question as asked."""
    hits: list[DocumentHit]
    signals: RetrievalSignals = field(default_factory=RetrievalSignals)
    stages: list[StageTiming] = field(default_factory=list)
    searched: str = ""
    """The query actually searched (after condensing), default ``query``."""
    weak: bool = False
    rewritten: str | None = None
    """The model's rewrite, when retrieval was weak and a rewrite ran."""
    rewrite_helped: bool | None = None


@dataclass(frozen=True)
class RerankerInUse:
    """Which second stage answers use, and why (``rerank_auto.choose_reranker``)."""

    kind: Literal["none", "cross-encoder", "llm"]
    setting: str
    """``[rag] reranker`` as configured: auto, none, cross-encoder or llm."""
    source: Literal["configured", "downloaded", "none"] = "none"
    """``configured``: named in the config (``cross_encoder_dir``, ``llm``);
    ``downloaded``: a reranker the model library pulled, picked by ``auto``."""
    name: str | None = None
    """The pulled reranker's name, the folder's name, or the LLM reranker's model."""
    path: Path | None = None
    """The cross-encoder folder."""
    note: str = ""
    """Why this one (or why none), for ``assistant search --json`` and the UI."""

    def summary(self) -> str:
        """One line for people: ``cross-encoder ms-marco-minilm-l6 (downloaded:
        the only reranker downloaded)``, ``none (no reranker downloaded ...)``."""
        what = f"{self.kind} {self.name}" if self.kind != "none" and self.name else self.kind
        why = f"{self.source}: {self.note}" if self.kind != "none" else self.note
        return f"{what} ({why})" if why else what


class Reranker(Protocol):
    """Second-stage scorer: returns ``hits`` re-scored (``score`` replaced by
    the reranker's), best first. Must not drop or invent hits."""

    name: str

    def rerank(self, query: str, hits: list[DocumentHit]) -> list[DocumentHit]: ...


@dataclass(frozen=True)
class Completion:
    """A hidden model call's text and token counts."""

    text: str
    usage: Usage | None = None
    inputs: RunInputs | None = None
    """The call as sent and its raw output (``generate_with`` fills it), so
    the request log can show and replay a hidden call like any other."""


Generate = Callable[[list[ChatMessage], int], Completion]
"""Runs a short hidden completion: (messages, max_tokens) -> Completion.
The pipeline builds it from the conversation's runtime; tests pass the fake
runtime or the real bundled model."""


@dataclass(frozen=True)
class SourceView:
    """A cited passage in the context of its whole document, for the viewer.

    ``text`` is the document's extracted text (what was indexed), with the
    passage at ``text[start:end]``; ``line`` is the 1-based line of the
    passage in the file on disk when it can be found there (for
    ``$EDITOR +line``); ``exists`` is False when the file has gone (the stored
    passage is then the whole ``text``).
    """

    path: str
    text: str
    start: int
    end: int
    line: int | None = None
    exists: bool = True
    heading: str = ""
    page: int | None = None


class EvalCancelled(AssistantError):
    title = "Evaluation cancelled"


@dataclass(frozen=True)
class EvalProgress:
    done: int
    total: int
    stage: str
    """The mode being measured, ``answers`` or ``generate``."""


EVAL_MODES: tuple[str, ...] = ("keyword", "dense", "hybrid", "hybrid+rerank", "rewrite", "default")


METRIC_KEYS: tuple[str, ...] = (
    "recall@1",
    "recall@5",
    "recall@10",
    "mrr@10",
    "passage_recall@1",
    "passage_recall@5",
    "passage_recall@10",
    "passage_mrr@10",
)
