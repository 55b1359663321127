"""Does a second-stage reranker improve what hybrid retrieval finds, and at
what cost per query?

For each dev question (``shared/eval/pydocs_dev.jsonl`` and
``pydocs_facts_dev.jsonl``) the hybrid top ``--candidates`` (default 30)
passages of the real corpus index are fetched once, then each reranker
reorders them and the ranking is scored with ``backend.rag.evaluate``
(passage level: a chunk of a gold file that contains the answer string;
file level too). Rerankers: ``none`` (the hybrid order), ``llm``
(``LlmReranker`` on a GGUF, default the bundled SmolLM2-135M) and
``cross-encoder`` (``--cross-encoder DIR``, e.g. a pulled ms-marco-minilm-l6). Milliseconds
are wall clock around ``rerank`` only (model loaded and warmed first); the
first stage's own time is reported separately.

The index is read-only: it is copied to a temporary file with SQLite's
backup API first. The LLM uses ``--threads`` (default 1: on a machine whose
cores are shared, llama.cpp threads spin-wait at barriers and two threads
measured 6x slower per passage than one). Prints a table and writes JSON
(``--out``, default ``benchmarks/results/rerank_eval.json``), per-question
ranks included.

    .venv/bin/python benchmarks/rerank_eval.py --limit 10
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from inputs import CORPUS, DEV, FACTS_DEV

from backend.knowledge.embedder import SentenceTransformerEmbedder
from backend.knowledge.records import DocumentHit
from backend.knowledge.search import search
from backend.modelfiles.catalog import bundled_model_path
from backend.rag.evaluate import Question, aggregate, hit_flags, load_questions, score_question
from backend.rag.rerank import CrossEncoderReranker, LlmReranker, NoReranker
from backend.rag.types import Reranker
from backend.store.db import Database

try:  # the same SQLite build as backend.store.db (FTS5, extension loading)
    import pysqlite3.dbapi2 as sqlite3
except ImportError:  # pragma: no cover
    import sqlite3

ROOT = str(CORPUS)
SETS = (
    DEV,
    FACTS_DEV,
)
SHOWN = ("passage_recall@1", "passage_recall@5", "passage_mrr@10", "recall@1", "mrr@10")


def copy_db(source: Path, dest: Path) -> Database:
    """A private copy of ``source`` (WAL included) through the backup API."""
    if not source.is_file():
        raise SystemExit(f"no index at {source}")
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(str(dest))
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    return Database(dest)


def write(out: Path, results: dict[str, Any]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2), encoding="utf-8")


def first_rank(flags: list[bool]) -> int | None:
    return next((i + 1 for i, f in enumerate(flags) if f), None)


def run_set(
    path: Path,
    db: Database,
    embedder: SentenceTransformerEmbedder,
    rerankers: list[Reranker],
    candidates: int,
    limit: int,
) -> dict[str, Any]:
    questions: list[Question] = load_questions(path)
    if limit > 0:
        questions = questions[:limit]
    pools: list[list[DocumentHit]] = []
    search_ms: list[float] = []
    for q in questions:
        started = time.perf_counter()
        pools.append(search(db, embedder, q.q, candidates, "hybrid"))
        search_ms.append((time.perf_counter() - started) * 1000)
    in_pool = [any(hit_flags(q, pool, ROOT)[1]) for q, pool in zip(questions, pools, strict=True)]
    out: dict[str, Any] = {
        "questions": len(questions),
        "passage_in_candidates": sum(in_pool) / len(in_pool) if in_pool else 0.0,
        "search_ms_mean": statistics.fmean(search_ms) if search_ms else 0.0,
        "rerankers": {},
    }
    for reranker in rerankers:
        scores, ms, per_question = [], [], []
        for q, pool in zip(questions, pools, strict=True):
            started = time.perf_counter()
            ranked = reranker.rerank(q.q, pool)
            ms.append((time.perf_counter() - started) * 1000)
            if sorted(h.chunk_id for h in ranked) != sorted(h.chunk_id for h in pool):
                raise SystemExit(f"{reranker.name} changed the candidate set for {q.q!r}")
            scores.append(score_question(q, ranked, ROOT))
            _, before = hit_flags(q, pool, ROOT)
            _, after = hit_flags(q, ranked, ROOT)
            per_question.append(
                {"q": q.q, "passage_rank_before": first_rank(before), "after": first_rank(after)}
            )
            print(
                f"  {reranker.name:5} {ms[-1]:8.0f} ms  {first_rank(before)} -> "
                f"{first_rank(after)}  {q.q[:60]}",
                flush=True,
            )
        passages = sum(len(p) for p in pools)
        out["rerankers"][reranker.name] = {
            "metrics": aggregate(scores),
            "ms_per_query_mean": statistics.fmean(ms) if ms else 0.0,
            "ms_per_query_max": max(ms, default=0.0),
            "ms_per_passage": sum(ms) / passages if passages else 0.0,
            "per_question": per_question,
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, required=True, help="assistant.db of a full docs index")
    parser.add_argument("--candidates", type=int, default=30)
    parser.add_argument("--limit", type=int, default=0, help="questions per set (0 = all)")
    parser.add_argument("--model", type=Path, default=None, help="GGUF (default: bundled)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--passage-tokens", type=int, default=256)
    parser.add_argument("--rerankers", default="none,llm", help="none, llm, cross-encoder")
    parser.add_argument("--cross-encoder", type=Path, default=None,
                        help="a cross-encoder folder (a pulled <data>/models/<name>)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/rerank_eval.json"))
    args = parser.parse_args()

    model = args.model or bundled_model_path()
    rerankers: list[Reranker] = []
    for name in args.rerankers.split(","):
        if name == "none":
            rerankers.append(NoReranker())
        elif name == "llm":
            if model is None:
                raise SystemExit("no GGUF model: pass --model")
            llm = LlmReranker(model, n_threads=args.threads, passage_tokens=args.passage_tokens)
            llm.score("warm-up question", "warm-up passage")  # load outside the timings
            rerankers.append(llm)
        elif name == "cross-encoder":
            if args.cross_encoder is None:
                raise SystemExit("the cross-encoder reranker needs --cross-encoder DIR")
            cross = CrossEncoderReranker(args.cross_encoder)
            cross.rerank("warm-up question", [DocumentHit(0, "w", "", None, 0.0, "warm-up")])
            rerankers.append(cross)
        else:
            raise SystemExit(f"unknown reranker {name!r} (none, llm, cross-encoder)")

    embedder = SentenceTransformerEmbedder()
    embedder.embed(["warm-up"])
    results: dict[str, Any] = {
        "machine": platform.platform(),
        "model": str(model),
        "candidates": args.candidates,
        "threads": args.threads,
        "passage_tokens": args.passage_tokens,
        "sets": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        db = copy_db(args.db, Path(tmp) / "kb.sqlite")
        try:
            for path in SETS:
                print(f"{path.name}", flush=True)
                results["sets"][path.name] = run_set(
                    path, db, embedder, rerankers, args.candidates, args.limit
                )
                write(args.out, results)  # after each set: a long run leaves partial results
        finally:
            db.close()

    print(f"\nhybrid top-{args.candidates} -> rerank ({model and Path(model).name})")
    print(f"{'set':26} {'reranker':8} " + " ".join(f"{k:>16}" for k in SHOWN) + "  ms/query")
    for set_name, data in results["sets"].items():
        for name, r in data["rerankers"].items():
            cells = " ".join(f"{r['metrics'][k]:16.3f}" for k in SHOWN)
            print(f"{set_name:26} {name:8} {cells}  {r['ms_per_query_mean']:8.0f}")
    for set_name, data in results["sets"].items():
        print(
            f"{set_name}: answer passage among the candidates for "
            f"{data['passage_in_candidates']:.0%} of questions (the ceiling for any reranker)"
        )
    write(args.out, results)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
