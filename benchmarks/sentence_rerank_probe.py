"""Probe: does re-scoring candidates by their best-matching sentence help?

MiniLM embeds a whole chunk into one vector, so a chunk whose one relevant
sentence sits among others can lose to a near neighbour. This probe adds,
to each first-stage candidate's fused score, ``w`` times the best cosine
between the query and the chunk's first ``n`` sentences (each prefixed with
the last heading, as the chunk's embedded text is), then ranks again --
exactly what a "sentence reranker" behind ``backend.rag.rerank_base`` would
do. Run on the full python3.11-doc index (``--home``) over the shared dev
sets; prints one line per (set, w, n).

Measured 2026-12-02 (24,021 chunks): facts pR@1 / pMRR 0.64 / 0.769 ->
0.68 / 0.793 at w = 0.5, n = 3, but dev 0.50 / 0.622 -> 0.47 / 0.578, and
every other setting is worse on dev; at 0.5-8 s per query. Not adopted.
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

import numpy as np

from backend.knowledge.embedder import SentenceTransformerEmbedder
from backend.knowledge.index_store import IndexStore
from backend.knowledge.records import DocumentHit
from backend.rag.evaluate import aggregate, load_questions, score_question
from backend.rag.rerank_base import rescored
from backend.rag.retrieval import retrieve
from backend.store.db import Database

ROOT = Path("/usr/share/doc/python3.11/html")
SETS = {
    "dev": Path("/work/shared/eval/pydocs_dev.jsonl"),
    "facts": Path("/work/shared/eval/pydocs_facts_dev.jsonl"),
}
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


class SentenceReranker:
    name = "sentence-probe"

    def __init__(self, embedder: SentenceTransformerEmbedder, weight: float, sentences: int):
        self.embedder, self.weight, self.sentences = embedder, weight, sentences
        self.cache: dict[str, np.ndarray] = {}

    def _embed(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in texts if t not in self.cache]
        if missing:
            self.cache.update(zip(missing, self.embedder.embed(missing), strict=True))
        return np.stack([self.cache[t] for t in texts])

    def _units(self, hit: DocumentHit) -> list[str]:
        last = hit.heading.split(" > ")[-1] if hit.heading else ""
        body = " ".join(hit.text.split())
        found = [s for s in _SENTENCE.split(body) if s][: self.sentences] or [body[:300]]
        return [f"{last}: {s}" if last else s for s in found]

    def rerank(self, query: str, hits: list[DocumentHit]) -> list[DocumentHit]:
        q = self._embed([query])[0]
        best = [float((self._embed(self._units(h)) @ q).max()) for h in hits]
        return rescored(hits, [h.score + self.weight * b for h, b in zip(hits, best, strict=True)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, default=Path("/work/kb_full"))
    parser.add_argument("--weights", default="0.5,1,2")
    parser.add_argument("--sentences", default="1,3,6")
    args = parser.parse_args()
    store = IndexStore(Database(args.home / "assistant.db"))
    embedder = SentenceTransformerEmbedder()
    settings = [(None, 0)] + [
        (float(w), int(n)) for w in args.weights.split(",") for n in args.sentences.split(",")
    ]
    for set_name, path in SETS.items():
        questions = load_questions(path)
        for weight, n in settings:
            rr = None if weight is None else SentenceReranker(embedder, weight, n)
            started = time.perf_counter()
            scores = [
                score_question(
                    q, retrieve(store, embedder, q.q, k=10, candidates=30, reranker=rr).hits, ROOT
                )
                for q in questions
            ]
            ms = 1000 * (time.perf_counter() - started) / len(questions)
            a = aggregate(scores)
            label = "first stage" if weight is None else f"w={weight} n={n}"
            print(
                f"{set_name:6}{label:14} pR@1 {a['passage_recall@1']:.2f} "
                f"pR@5 {a['passage_recall@5']:.2f} pMRR {a['passage_mrr@10']:.3f} "
                f"R@1 {a['recall@1']:.2f}  {ms:.0f} ms/q",
                flush=True,
            )


if __name__ == "__main__":
    main()
