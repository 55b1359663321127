"""Which retrieval settings find the right passage? One table per variant.

Runs ``backend.rag.retrieval.retrieve`` -- exactly what chat and
``assistant eval retrieval`` call -- over the question sets in
``shared/eval`` against an already built index of Debian's
python3.11-doc HTML (``assistant index`` with ``ASSISTANT_HOME`` pointing at
``--home``; the database is opened read-only in spirit: nothing is written),
and scores each ranking with ``backend.rag.evaluate`` (file- and
passage-level Recall@1/5/10 and MRR@10, see shared/eval/README.md).

Each variant changes one lever against the tuned default, so a row's
difference from ``hybrid`` is that lever's effect. Query embeddings are
cached across variants (the model is deterministic), so the timings printed
are first-stage search only after the first variant.

Usage::

    python benchmarks/retrieval_tuning.py --home HOME_WITH_A_FULL_INDEX
        [--variants hybrid,keyword,dense] [--sets dev,facts] [--k 10]

Prints one table per question set and writes every number to
``benchmarks/results/retrieval_tuning.json`` (``--out``).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from inputs import CORPUS, DEV, FACTS_DEV

from backend.knowledge.embedder import DelegatingEmbedder, Embedder, SentenceTransformerEmbedder
from backend.knowledge.index_store import IndexStore
from backend.knowledge.search import DEFAULT_FUSION, Fusion, Mode
from backend.rag.evaluate import Question, aggregate, load_questions, score_question
from backend.rag.retrieval import DEFAULT_DIVERSITY, MAX_PER_DOCUMENT, Diversity, retrieve
from backend.rag.types import METRIC_KEYS
from backend.store.db import Database

ROOT = CORPUS
SETS = {
    "dev": DEV,
    "facts": FACTS_DEV,
}
OUT = Path("benchmarks/results/retrieval_tuning.json")
OFF = Diversity(collapse_duplicates=False, defer_neighbours=False, min_body_chars=0)


@dataclass(frozen=True)
class Variant:
    mode: Mode = "hybrid"
    fusion: Fusion = DEFAULT_FUSION
    diversity: Diversity = DEFAULT_DIVERSITY
    candidates: int = 30
    max_per_document: int = MAX_PER_DOCUMENT
    note: str = ""


def _f(**changes: Any) -> Fusion:
    return replace(DEFAULT_FUSION, **changes)


VARIANTS: dict[str, Variant] = {
    "keyword": Variant(mode="keyword", note="FTS5 bm25 only"),
    "dense": Variant(mode="dense", note="sqlite-vec KNN only"),
    "hybrid": Variant(note="the default"),
    "hybrid-nodiv": Variant(diversity=OFF, note="no diversity step"),
    "hybrid-cap2": Variant(max_per_document=2),
    "hybrid-cap5": Variant(max_per_document=5),
    "hybrid-neighbour": Variant(diversity=replace(DEFAULT_DIVERSITY, defer_neighbours=True)),
    "hybrid-keepempty": Variant(diversity=replace(DEFAULT_DIVERSITY, min_body_chars=0)),
    "scaled-kw.05": Variant(fusion=_f(method="scaled", keyword_weight=0.05)),
    "scaled-kw.2": Variant(fusion=_f(method="scaled", keyword_weight=0.2)),
    "rrf-k60": Variant(fusion=_f(method="rrf", rrf_k=60, keyword_weight=1.0), note="naive"),
    "rrf-k10": Variant(fusion=_f(method="rrf", rrf_k=10, keyword_weight=1.0)),
    "rrf-k30": Variant(fusion=_f(method="rrf", rrf_k=30, keyword_weight=1.0)),
    "rrf-k100": Variant(fusion=_f(method="rrf", rrf_k=100, keyword_weight=1.0)),
    "rrf-dense2": Variant(fusion=_f(method="rrf", keyword_weight=1.0, dense_weight=2.0)),
    "rrf-k10-d2": Variant(fusion=_f(method="rrf", rrf_k=10, keyword_weight=1, dense_weight=2)),
    "minmax": Variant(fusion=_f(method="minmax", keyword_weight=1.0)),
    "minmax-dense2": Variant(fusion=_f(method="minmax", keyword_weight=1.0, dense_weight=2.0)),
    "minmax-dense4": Variant(fusion=_f(method="minmax", keyword_weight=1.0, dense_weight=4.0)),
    "stopwords-kept": Variant(fusion=_f(stop_words=False)),
    "heading-1": Variant(fusion=_f(bm25_weights=(1.0, 1.0))),
    "heading-3": Variant(fusion=_f(bm25_weights=(1.0, 3.0))),
    "heading-10": Variant(fusion=_f(bm25_weights=(1.0, 10.0))),
    "pool-1x": Variant(fusion=_f(pool_per_k=1)),
    "pool-2x": Variant(fusion=_f(pool_per_k=2)),
    "pool-8x": Variant(fusion=_f(pool_per_k=8)),
    "cand-15": Variant(candidates=15),
    "cand-60": Variant(candidates=60),
}


class CachingEmbedder(DelegatingEmbedder):
    """The real embedder, remembering each query's vector."""

    def __init__(self, inner: Embedder) -> None:
        super().__init__(inner)
        self.cache: dict[str, np.ndarray] = {}

    def embed(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in texts if t not in self.cache]
        if missing:
            for text, vector in zip(missing, self.inner.embed(missing), strict=True):
                self.cache[text] = vector
        return np.stack([self.cache[t] for t in texts])


@dataclass
class Row:
    variant: str
    set: str
    metrics: dict[str, float]
    ms_p50: float
    per_question: list[dict[str, Any]] = field(default_factory=list)


def run_variant(
    name: str,
    variant: Variant,
    store: IndexStore,
    embedder: Embedder,
    questions: list[Question],
    set_name: str,
    k: int,
) -> Row:
    scores, times, per_question = [], [], []
    for q in questions:
        started = time.perf_counter()
        result = retrieve(
            store,
            None if variant.mode == "keyword" else embedder,
            q.q,
            mode=variant.mode,
            k=k,
            candidates=max(variant.candidates, k),
            max_per_document=variant.max_per_document,
            fusion=variant.fusion,
            diversity=variant.diversity,
        )
        times.append((time.perf_counter() - started) * 1000)
        score = score_question(q, result.hits, ROOT)
        scores.append(score)
        per_question.append(
            {
                "q": q.q,
                "passage_mrr@10": score["passage_mrr@10"],
                "mrr@10": score["mrr@10"],
                "top": [
                    f"{h.path.removeprefix(str(ROOT) + '/')}#{h.heading}" for h in result.hits[:3]
                ],
            }
        )
    return Row(name, set_name, aggregate(scores), float(np.median(times)), per_question)


def print_table(rows: list[Row], set_name: str) -> None:
    short = ["R@1", "R@5", "R@10", "MRR", "pR@1", "pR@5", "pR@10", "pMRR"]
    print(f"\n## {set_name}")
    print(f"{'variant':<20}" + "".join(f"{s:>7}" for s in short) + f"{'ms p50':>9}")
    for row in rows:
        if row.set != set_name:
            continue
        values = "".join(f"{row.metrics[key]:>7.3f}" for key in METRIC_KEYS)
        print(f"{row.variant:<20}{values}{row.ms_p50:>9.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--home", type=Path, required=True, help="an ASSISTANT_HOME with the docs indexed"
    )
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument(
        "--out", type=Path, default=Path("benchmarks/results/retrieval_tuning.json")
    )
    args = parser.parse_args()
    names = [n for n in args.variants.split(",") if n]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variants {unknown}; choose from {', '.join(VARIANTS)}")
    db = Database(args.home / "assistant.db")
    store = IndexStore(db)
    embedder = CachingEmbedder(SentenceTransformerEmbedder())
    embedder.embed(["warm up"])
    counts = store.counts()
    print(f"index: {counts['documents']} documents, {counts['chunks']} chunks ({args.home})")
    rows: list[Row] = []
    for set_name in args.sets.split(","):
        questions = load_questions(SETS[set_name])
        embedder.embed([q.q for q in questions])
        for name in names:
            rows.append(
                run_variant(name, VARIANTS[name], store, embedder, questions, set_name, args.k)
            )
        print_table(rows, set_name)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "index": counts,
                "k": args.k,
                "machine": platform.platform(),
                "variants": {
                    n: {**asdict(VARIANTS[n]), "fusion": asdict(VARIANTS[n].fusion)} for n in names
                },
                "rows": [asdict(r) for r in rows],
            },
            indent=1,
        )
    )
    print(f"\nwrote {args.out}")
    db.close()


if __name__ == "__main__":
    main()
