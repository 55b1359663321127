"""Where does the time of a grounded answer go, stage by stage?

Two measurements over Debian's python3.11-doc HTML, indexed beforehand with
``assistant folders add DIR --include '*.html' && assistant index`` into an
``ASSISTANT_HOME`` passed as ``--home`` (the database is copied to a temp
folder first; the original is never written):

1. A full answer per question through the ``Backend`` facade with the real
   bundled model (llama.cpp worker) and MiniLM: per-stage milliseconds as
   the request log records them (condense, retrieve, rerank, rewrite,
   generate: TTFT and total), median over the questions. Beside it, the raw
   libraries on the same queries in the same run: ``SentenceTransformer
   .encode`` of the query + one sqlite-vec KNN + one FTS5 bm25 query, so the
   ratio retrieve / raw shows what fusion, diversity and bookkeeping cost.
2. First-stage query p50/p95 at about ``--target-chunks`` (default 100k)
   chunks, made by copying the indexed documents with their vectors under
   fake paths (as ``query_latency.py`` does), with and without the rerank
   stage (``--reranker``, default the LLM reranker on the bundled model over
   ``--rerank-candidates`` passages).

Prints tables and writes JSON (``--out``, default
``benchmarks/results/rag_latency.json``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from inputs import EVAL_DIR

sys.path.insert(0, str(Path(__file__).resolve().parent))

from query_latency import grow, percentile

from backend import Backend
from backend.common.config import Settings
from backend.common.events import MessageSaved
from backend.common.locations import Locations
from backend.knowledge.search import fts_query

EVAL = EVAL_DIR
QUESTION_FILES = (EVAL / "pydocs_facts_dev.jsonl", EVAL / "pydocs_dev.jsonl")


def load_questions(n: int) -> list[str]:
    out: list[str] = []
    for path in QUESTION_FILES:
        for line in path.read_text().splitlines():
            if line.strip():
                out.append(json.loads(line)["q"])
    return out[:n] if n > 0 else out


def copy_home(src: Path, dest: Path) -> None:
    dest.mkdir(parents=True)
    for f in src.glob("assistant.db*"):
        shutil.copy2(f, dest / f.name)


def raw_retrieve_ms(backend: Backend, questions: list[str], k: int) -> list[float]:
    """Encode + one KNN + one FTS5 query with the libraries directly."""
    model = backend.core.kb.embedder
    db = backend.core.kb.store.db
    times = []
    for q in questions:
        start = time.perf_counter()
        vec = np.asarray(model.embed([q])[0], dtype="<f4").tobytes()
        db.query(
            "SELECT rowid, distance FROM chunks_vec WHERE embedding MATCH ? AND k = ?"
            " ORDER BY distance",
            (vec, k),
        )
        match = fts_query(q)
        if match:
            db.query(
                "SELECT rowid, bm25(chunks_fts) AS r FROM chunks_fts WHERE chunks_fts MATCH ?"
                " ORDER BY r LIMIT ?",
                (match, k),
            )
        times.append((time.perf_counter() - start) * 1000)
    return times


async def answers(backend: Backend, questions: list[str]) -> dict[str, Any]:
    per_stage: dict[str, list[float]] = {}
    ttft: list[float] = []
    for q in questions:
        conv = await backend.conversations.create_conversation()
        await backend.documents.set_conversation_documents(conv.id, True)
        events = await (await backend.chat.send(conv.id, q)).collect()
        saved = next(e for e in events if isinstance(e, MessageSaved))
        for r in await backend.telemetry.request_log(50, conv.id):
            if r.message_id != saved.message_id or r.total_ms is None:
                continue
            per_stage.setdefault(r.stage, []).append(r.total_ms)
            if r.stage == "generate" and r.ttft_ms is not None:
                ttft.append(r.ttft_ms)
    out = {
        stage: {"n": len(v), "p50_ms": percentile(v, 50), "mean_ms": statistics.fmean(v)}
        for stage, v in per_stage.items()
    }
    out["generate_ttft"] = {"n": len(ttft), "p50_ms": percentile(ttft, 50)}
    return out


def first_stage(backend: Backend, questions: list[str], rerank: bool) -> dict[str, Any]:
    mode = "hybrid+rerank" if rerank else "hybrid"
    for q in questions[:2]:
        backend.documents.pipeline.retrieve(q, mode=mode)
    times = []
    for q in questions:
        start = time.perf_counter()
        backend.documents.pipeline.retrieve(q, mode=mode)
        times.append((time.perf_counter() - start) * 1000)
    return {"queries": len(times), "p50_ms": percentile(times, 50), "p95_ms": percentile(times, 95)}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    questions = load_questions(args.questions)
    tmp = Path(tempfile.mkdtemp(prefix="bench-rag-"))
    try:
        copy_home(args.home, tmp / "home")
        os.environ["ASSISTANT_HOME"] = str(tmp / "home")
        settings = Settings()
        backend = await Backend.open(locations=Locations(tmp / "home"), settings=settings)
        try:
            backend.core.kb.embedder.embed(["warm up"])
            counts = backend.core.kb.store.counts()
            settings.rag.reranker = "none"
            full = await answers(backend, questions)
            raw = raw_retrieve_ms(backend, questions, settings.rag.candidates)
            retrieve_p50 = full.get("retrieve", {}).get("p50_ms")
            raw_p50 = percentile(raw, 50)
            folder = backend.core.kb.store.folders()[0]
            built = grow(backend.core.kb, folder, args.target_chunks)
            plain = first_stage(backend, questions, rerank=False)
            settings.rag.reranker = args.reranker
            settings.rag.candidates = args.rerank_candidates
            backend._pipeline = None  # rebuild with the reranker
            reranked = first_stage(backend, questions[: args.rerank_questions], rerank=True)
        finally:
            await backend.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "questions": len(questions),
        "corpus_counts": counts,
        "answer_stages": full,
        "raw_retrieve_p50_ms": raw_p50,
        "retrieve_over_raw": (retrieve_p50 / raw_p50) if retrieve_p50 and raw_p50 else None,
        "large": {
            "counts": built["counts"],
            "hybrid": plain,
            f"hybrid+rerank ({args.reranker}, {args.rerank_candidates} candidates)": reranked,
        },
    }


def report(result: dict[str, Any]) -> None:
    print(f"corpus: {result['corpus_counts']}, {result['questions']} questions")
    print(f"{'stage':<16}{'n':>4}{'p50 ms':>10}{'mean ms':>10}")
    for stage, v in result["answer_stages"].items():
        mean = v.get("mean_ms")
        print(
            f"{stage:<16}{v['n']:>4}{v['p50_ms']:>10.1f}"
            + (f"{mean:>10.1f}" if mean is not None else "")
        )
    ratio = result["retrieve_over_raw"]
    print(
        f"raw encode+KNN+FTS p50 {result['raw_retrieve_p50_ms']:.1f} ms; retrieve/raw = {ratio:.2f}"
        if ratio
        else ""
    )
    print(f"at {result['large']['counts']['chunks']} chunks:")
    for label, v in result["large"].items():
        if label != "counts":
            print(f"  {label:<48} p50 {v['p50_ms']:8.1f} ms   p95 {v['p95_ms']:8.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", type=Path, required=True, help="an indexed ASSISTANT_HOME")
    parser.add_argument("--questions", type=int, default=12, help="0 = all dev questions")
    parser.add_argument("--target-chunks", type=int, default=100_000)
    parser.add_argument("--reranker", default="llm", choices=["llm", "cross-encoder", "none"])
    parser.add_argument("--rerank-candidates", type=int, default=10)
    parser.add_argument("--rerank-questions", type=int, default=6)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/rag_latency.json"))
    args = parser.parse_args()
    result = asyncio.run(run(args))
    report(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
