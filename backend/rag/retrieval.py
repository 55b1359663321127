"""First-stage retrieval for RAG: fused search, optional rerank, diversity.

``retrieve`` runs keyword (FTS5 bm25) and dense (sqlite-vec KNN) search,
fuses them (``backend.knowledge.search.first_stage``: dense cosine plus a
scaled bm25 tie-breaker, measured there), lets a reranker re-score the
candidates if one is given, then picks the final ``k`` with a diversity
step, and reports the signals another stage uses to decide whether
retrieval was weak.

The diversity step, chosen by cross-validation over all three question sets
pooled (dev, facts dev, frozen: 140 questions, 5 folds by question, passage
MRR@10, ``benchmarks/retrieval_compare.py`` on the 125 gold pages; README
"Against the naive pipeline"): holding back chunks with no text besides their heading is the
rule that pays (e.g. the bare "Running in Threads" section title outranked
``asyncio.to_thread``). The per-file cap of 3 and holding back a chosen
chunk's neighbours held answer passages back (CV MRR 0.742 +- 0.008 with
them, 0.764 +- 0.015 without; paired per question +0.022 +- 0.008), so
both are off by default (``MAX_PER_DOCUMENT`` is above the default 30
candidates; the rules stay available). Near-duplicate texts (word-trigram Jaccard >= 0.9) are still
collapsed to their best copy: it never fired on these sets (same score with
and without) and it is what keeps two copies of one file from filling the
prompt.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backend.common.tracing import RETRIEVAL_QUERY, STAGE, capturing_content, span
from backend.knowledge.embedder import Embedder
from backend.knowledge.index_store import HEADING_SEPARATOR, IndexStore
from backend.knowledge.records import DocumentHit
from backend.knowledge.search import (
    DEFAULT_FUSION,
    Fusion,
    Mode,
    first_stage,
    hits_for,
    keyword_count,
    keyword_ids,
)
from backend.rag.types import Reranker, RetrievalResult, RetrievalSignals, StageTiming
from backend.store.db import Database

GAP_RANK = 5
"""``dense_gap`` is the best cosine minus the one at this rank."""
DUPLICATE_JACCARD = 0.9
"""Word-trigram Jaccard similarity at or above which two texts count as one."""
MIN_BODY_CHARS = 20
"""Sphinx pages have thousands of heading-only chunks (a signature whose
description is shared with the next one, a section title before its first
subsection: 2,244 of 24,020 chunks have <= 16 tokens). They embed close to
many questions yet cannot answer any."""
MAX_PER_DOCUMENT = 50
"""No per-file cap in effect (above ``[rag] candidates``' default of 30)."""
_WORDS = re.compile(r"\w+")


@dataclass(frozen=True)
class Diversity:
    """The diversity step's rules (``benchmarks/retrieval_tuning.py``)."""

    collapse_duplicates: bool = True
    defer_neighbours: bool = False
    """A chunk next to an already chosen chunk of the same file waits until
    the list has room (off by default since issue 19: it held back answers)."""
    min_body_chars: int = MIN_BODY_CHARS
    """A chunk with less text than this besides its own heading waits too."""


DEFAULT_DIVERSITY = Diversity()


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _shingles(text: str) -> frozenset[tuple[str, ...]]:
    words = _WORDS.findall(text.casefold())
    if len(words) < 3:
        return frozenset([tuple(words)])
    return frozenset(zip(words, words[1:], words[2:], strict=False))


def _near_duplicate(a: frozenset[tuple[str, ...]], b: frozenset[tuple[str, ...]]) -> bool:
    union = len(a | b)
    return union > 0 and len(a & b) / union >= DUPLICATE_JACCARD


def body_chars(hit: DocumentHit) -> int:
    """Characters of ``hit``'s text besides its heading's last part, which
    chunks of a Sphinx entry repeat as their first line."""
    text = hit.text.strip()
    last = hit.heading.rsplit(HEADING_SEPARATOR, 1)[-1].strip()
    if last and text.startswith(last):
        text = text[len(last) :]
    return len(text.strip())


def _positions(db: Database, ids: list[int]) -> dict[int, tuple[int, int]]:
    """chunk id -> (document id, ord) for the neighbour rule."""
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    rows = db.query(f"SELECT id, document_id, ord FROM chunks WHERE id IN ({marks})", tuple(ids))
    return {int(r["id"]): (int(r["document_id"]), int(r["ord"])) for r in rows}


def diversify(
    hits: list[DocumentHit],
    k: int,
    max_per_document: int,
    positions: dict[int, tuple[int, int]] | None = None,
    rules: Diversity = DEFAULT_DIVERSITY,
) -> list[DocumentHit]:
    """The best ``k`` of ``hits`` (best first) such that near-duplicate texts
    appear once, no file has more than ``max_per_document`` passages, and a
    neighbour of a chosen chunk of the same file, or a chunk with next to no
    text of its own (``Diversity.min_body_chars``), comes after the others.
    Held-back hits fill the list only when nothing else is left,
    in their original order, so the cap never leaves the list short.
    """
    positions = positions or {}
    chosen: list[DocumentHit] = []
    held: list[DocumentHit] = []
    seen: list[frozenset[tuple[str, ...]]] = []
    per_doc: dict[str, int] = {}
    taken: set[tuple[int, int]] = set()
    for hit in hits:
        if rules.collapse_duplicates:
            shingles = _shingles(hit.text)
            if any(_near_duplicate(shingles, s) for s in seen):
                continue
            seen.append(shingles)
        pos = positions.get(hit.chunk_id)
        neighbour = pos is not None and (
            (pos[0], pos[1] - 1) in taken or (pos[0], pos[1] + 1) in taken
        )
        if (
            per_doc.get(hit.path, 0) >= max_per_document
            or (rules.defer_neighbours and neighbour)
            or body_chars(hit) < rules.min_body_chars
        ):
            held.append(hit)
            continue
        chosen.append(hit)
        per_doc[hit.path] = per_doc.get(hit.path, 0) + 1
        if pos is not None:
            taken.add(pos)
        if len(chosen) == k:
            return chosen
    return chosen + held[: k - len(chosen)]


def _signals(
    keyword: list[tuple[int, float]],
    dense: list[tuple[int, float]],
    hits: list[DocumentHit],
    keyword_hits: int,
) -> RetrievalSignals:
    dense_top = dense[0][1] if dense else None
    gap = None
    if dense:
        gap = dense[0][1] - dense[min(GAP_RANK, len(dense)) - 1][1]
    both = {i for i, _ in keyword} & {i for i, _ in dense}
    overlap = sum(h.chunk_id in both for h in hits) / len(hits) if hits else 0.0
    return RetrievalSignals(
        dense_top=dense_top,
        dense_gap=gap,
        keyword_top=keyword[0][1] if keyword else None,
        keyword_hits=keyword_hits,
        overlap=overlap,
    )


def retrieve(
    store_or_db: IndexStore | Database,
    embedder: Embedder | None,
    query: str,
    *,
    mode: Mode = "hybrid",
    k: int = 6,
    candidates: int = 30,
    folder_ids: list[int] | None = None,
    reranker: Reranker | None = None,
    max_per_document: int = MAX_PER_DOCUMENT,
    fusion: Fusion = DEFAULT_FUSION,
    diversity: Diversity = DEFAULT_DIVERSITY,
) -> RetrievalResult:
    """Passages for ``query``: ``candidates`` from the first stage (``mode``),
    reranked when a ``reranker`` is given, then the diversity step down to
    ``k``. The keyword signals are filled in every mode (in dense mode the
    keyword list is fetched for them alone: a few milliseconds); the dense
    ones whenever there is an embedder (the pipeline passes none for keyword
    mode). The ``retrieve`` stage's time covers everything but the rerank.
    """
    store = store_or_db if isinstance(store_or_db, IndexStore) else IndexStore(store_or_db)
    if k <= 0 or not query.strip():
        return RetrievalResult(query=query, hits=[], searched=query)
    with span("retrieve", {STAGE: "retrieve", "assistant.retrieval.mode": mode}) as traced:
        result = _retrieve(
            store, embedder, query, mode, k, candidates, folder_ids, reranker,
            max_per_document, fusion, diversity,
        )  # fmt: skip
        if capturing_content():
            traced.set({RETRIEVAL_QUERY: query})
        traced.set({"assistant.retrieval.hits": len(result.hits)})
        return result


def _retrieve(
    store: IndexStore,
    embedder: Embedder | None,
    query: str,
    mode: Mode,
    k: int,
    candidates: int,
    folder_ids: list[int] | None,
    reranker: Reranker | None,
    max_per_document: int,
    fusion: Fusion,
    diversity: Diversity,
) -> RetrievalResult:
    started = time.perf_counter()
    pool = max(candidates, k)
    first = first_stage(store, embedder, query, pool, mode, folder_ids, fusion)
    keyword = first.keyword
    if mode == "dense":
        keyword = keyword_ids(store.db, query, pool, folder_ids, weights=fusion.bm25_weights)
    hits = hits_for(store.db, first.fused)
    rerank_ms = 0.0
    stages = []
    if reranker is not None and hits:
        rerank_started = time.perf_counter()
        with span("rerank", {STAGE: "rerank", "assistant.reranker": reranker.name}):
            hits = reranker.rerank(query, hits)
        rerank_ms = _ms(rerank_started)
        about: dict[str, Any] = {"reranker": reranker.name}
        model_dir = getattr(reranker, "model_dir", None)  # the cross-encoder's folder
        if model_dir is not None:
            about["model"] = Path(model_dir).name
        stages.append(StageTiming("rerank", rerank_ms, about))
    positions = _positions(store.db, [h.chunk_id for h in hits])
    final = diversify(hits, k, max_per_document, positions, diversity)
    signals = _signals(keyword, first.dense, final, keyword_count(store.db, query, folder_ids))
    detail = {
        "mode": mode,
        "candidates": len(hits),
        "keyword": len(keyword),
        "dense": len(first.dense),
    }
    stages.insert(0, StageTiming("retrieve", _ms(started) - rerank_ms, detail))
    return RetrievalResult(query=query, hits=final, signals=signals, stages=stages, searched=query)
