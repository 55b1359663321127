"""Rankings for ``retrieval_compare.py``: every query-time variant from one
set of cached lists per (index, question).

Each question's keyword lists (the product's bm25: heading column x0.5,
stop words dropped; and plain bm25) and its dense list are fetched once,
``POOL`` long, with every chunk they name. A variant then replays exactly
what ``backend.rag.retrieval.retrieve`` does -- the first stage's
per-list pool (``candidates x pool_per_k``), the fusion, the first
``candidates``, the diversity step -- with the product's own functions
(``scaled_fuse``, ``rrf``, ``minmax_fuse``, ``diversify``), so dozens of
variants cost no further search. ``check_replay`` confirms the replay of the
default equals ``retrieve()`` itself.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from backend.common.config import RagSettings
from backend.knowledge.embedder import DelegatingEmbedder, Embedder
from backend.knowledge.index_store import IndexStore
from backend.knowledge.records import DocumentHit
from backend.knowledge.search import (
    DEFAULT_FUSION,
    Fusion,
    dense_ids,
    keyword_ids,
    minmax_fuse,
    rrf,
    scaled_fuse,
)
from backend.rag.evaluate import Question, hit_flags
from backend.rag.retrieval import DEFAULT_DIVERSITY, Diversity, diversify, retrieve
from backend.store.db import Database

POOL = 240
"""Longest list any variant reads (60 candidates x 4)."""
PLAIN_BM25 = (1.0, 1.0)


class CachingEmbedder(DelegatingEmbedder):
    """The real embedder, remembering each text's vector."""

    def __init__(self, inner: Embedder) -> None:
        super().__init__(inner)
        self.cache: dict[str, np.ndarray] = {}

    def embed(self, texts: list[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self.cache))
        if missing:
            for text, vector in zip(missing, self.inner.embed(missing), strict=True):
                self.cache[text] = vector
        return np.stack([self.cache[t] for t in texts])


@dataclass(frozen=True)
class Variant:
    """One query-time configuration. ``diversity`` None: plain top-k."""

    mode: str = "hybrid"
    fusion: Fusion = DEFAULT_FUSION
    diversity: Diversity | None = DEFAULT_DIVERSITY
    max_per_document: int = field(default_factory=lambda: RagSettings().max_per_document)
    candidates: int = 30
    plain_bm25: bool = False
    """bm25 with equal column weights and every query word (the naive one)."""
    simplicity: int = 0
    """Tuned parts (0 = none): the tie-break when variants are within noise."""


NAIVE = Variant(
    fusion=Fusion(method="rrf", rrf_k=60, keyword_weight=1.0, dense_weight=1.0, pool_per_k=5),
    diversity=None,
    candidates=10,
    plain_bm25=True,
)
"""The issue's naive query side: RRF k = 60 over the top 50 of each list."""


@dataclass
class Lists:
    keyword: list[tuple[int, float]]
    keyword_plain: list[tuple[int, float]]
    dense: list[tuple[int, float]]


@dataclass
class IndexRun:
    """One index's cached lists and chunks for a list of questions."""

    name: str
    root: Path
    db: Database
    lists: list[Lists] = field(default_factory=list)
    chunks: dict[int, DocumentHit] = field(default_factory=dict)
    positions: dict[int, tuple[int, int]] = field(default_factory=dict)

    @property
    def store(self) -> IndexStore:
        return IndexStore(self.db)


def load_lists(run: IndexRun, embedder: Embedder, questions: list[Question]) -> None:
    """Fetch every question's three lists and the chunks they name."""
    store = run.store
    for q in questions:
        run.lists.append(
            Lists(
                keyword_ids(run.db, q.q, POOL),
                keyword_ids(run.db, q.q, POOL, weights=PLAIN_BM25, stop_words=False),
                dense_ids(store, embedder, q.q, POOL),
            )
        )
    ids = sorted({i for ls in run.lists for lst in vars(ls).values() for i, _ in lst})
    for at in range(0, len(ids), 900):
        part = ids[at : at + 900]
        marks = ",".join("?" * len(part))
        rows = run.db.query(
            'SELECT c.id, c.document_id, c.ord, d.path, c.heading, c.page, c.text, c.start, c."end"'
            f" FROM chunks c JOIN documents d ON d.id = c.document_id WHERE c.id IN ({marks})",
            tuple(part),
        )
        for r in rows:
            cid = int(r["id"])
            run.chunks[cid] = DocumentHit(
                cid, r["path"], r["heading"], r["page"], 0.0, r["text"], r["start"], r["end"]
            )
            run.positions[cid] = (int(r["document_id"]), int(r["ord"]))


def first_stage(lists: Lists, v: Variant) -> list[tuple[int, float]]:
    """The fused candidates, as ``backend.knowledge.search.first_stage``."""
    n = v.candidates
    keyword = lists.keyword_plain if v.plain_bm25 else lists.keyword
    if v.mode == "keyword":
        return keyword[:n]
    if v.mode == "dense":
        return lists.dense[:n]
    pool = n * v.fusion.pool_per_k
    kw, dense = keyword[:pool], lists.dense[:pool]
    f = v.fusion
    if f.method == "scaled":
        fused = scaled_fuse(kw, dense, f.keyword_weight / f.dense_weight)
    elif f.method == "minmax":
        fused = minmax_fuse([kw, dense], [f.keyword_weight, f.dense_weight])
    else:
        fused = rrf([kw, dense], f.rrf_k, [f.keyword_weight, f.dense_weight])
    return fused[:n]


def ranking(run: IndexRun, i: int, v: Variant, k: int = 10) -> list[DocumentHit]:
    fused = first_stage(run.lists[i], v)
    hits = [replace(run.chunks[c], score=s) for c, s in fused if c in run.chunks]
    if v.diversity is None:
        return hits[:k]
    return diversify(hits, k, v.max_per_document, run.positions, v.diversity)


def passage_rank(q: Question, hits: list[DocumentHit], root: Path) -> int | None:
    """1-based rank of the first passage hit, None when none in ``hits``."""
    _, passages = hit_flags(q, hits, root)
    return next((n for n, ok in enumerate(passages, start=1) if ok), None)


def check_replay(run: IndexRun, embedder: Embedder, questions: list[Question]) -> dict[str, Any]:
    """The replayed default (``Variant()``: the product's defaults) against
    ``retrieve()`` itself (ids in order),
    with ``retrieve()``'s time per question."""
    same, times = 0, []
    for i, q in enumerate(questions):
        started = time.perf_counter()
        real = retrieve(
            run.store,
            embedder,
            q.q,
            k=10,
            candidates=RagSettings().candidates,
            max_per_document=RagSettings().max_per_document,
        )
        times.append((time.perf_counter() - started) * 1000)
        replay = ranking(run, i, Variant())
        same += [h.chunk_id for h in real.hits] == [h.chunk_id for h in replay]
    return {"identical": same, "questions": len(questions), "ms_p50": float(np.median(times))}
