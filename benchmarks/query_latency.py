"""How long does a knowledge-base search take, per mode, at two index sizes?

p50/p95 milliseconds of ``KnowledgeBase.search`` (wall clock around the
call, query embedding included for dense and hybrid) in each mode (keyword,
dense, hybrid) over the dev questions in ``shared/eval``
(``pydocs_dev.jsonl`` + ``pydocs_facts_dev.jsonl``, field ``q``):

* at the sample size (or, with ``--home``, an index built beforehand: a
  copy of that ``ASSISTANT_HOME``'s database, e.g. the whole corpus): the
  same deterministic sample of Debian's
  python3.11-doc HTML as ``index_throughput.py`` (every Nth ``*.html`` file
  sorted by path, ``--files``; 0 = whole corpus), really indexed;
* at about ``--target-chunks`` chunks (default 100k): embedding that many
  texts for real would take close to an hour on a laptop CPU, so the sample's
  real chunks and vectors are copied under fake paths through
  ``IndexStore.replace_document`` until the index holds that many. The
  copies are exact duplicates, so keyword and dense search do the same work
  per chunk as on distinct text, but the result lists are full of ties.

The embedding model is loaded and warmed up before anything is timed, and a
few queries per mode run untimed first. Prints a table and writes JSON
(``--out``, default ``benchmarks/results/query_latency.json``).
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from inputs import CORPUS, DEV, FACTS_DEV

from backend.knowledge.embedder import SentenceTransformerEmbedder
from backend.knowledge.records import Chunk
from backend.knowledge.search import Mode
from backend.knowledge.service import KnowledgeBase
from backend.store.db import Database
from backend.store.migrations import migrate

QUESTIONS = (
    DEV,
    FACTS_DEV,
)
MODES: tuple[Mode, ...] = ("keyword", "dense", "hybrid")
WARMUP = 3


def sample_files(root: Path, n: int) -> list[Path]:
    """Every Nth ``*.html`` file under ``root`` sorted by path (all when n <= 0);
    the same selection as ``index_throughput.py``."""
    files = sorted(root.rglob("*.html"))
    if not files:
        raise SystemExit(f"no HTML files under {root} (apt install python3.11-doc)")
    if n <= 0 or n >= len(files):
        return files
    return [files[i * len(files) // n] for i in range(n)]


def copy_sample(files: list[Path], root: Path, dest: Path) -> None:
    for f in files:
        target = dest / f.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, target)


def load_questions(paths: tuple[Path, ...]) -> list[str]:
    out = []
    for p in paths:
        for line in p.read_text(encoding="utf-8").splitlines():
            if line.strip():
                out.append(json.loads(line)["q"])
    return out


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def measure(kb: KnowledgeBase, questions: list[str], k: int, repeats: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for mode in MODES:
        for q in questions[:WARMUP]:
            kb.search(q, k=k, mode=mode)
        times = []
        hits = 0
        for _ in range(repeats):
            for q in questions:
                start = time.perf_counter()
                result = kb.search(q, k=k, mode=mode)
                times.append((time.perf_counter() - start) * 1000)
                hits += len(result)
        out[mode] = {
            "queries": len(times),
            "p50_ms": percentile(times, 50),
            "p95_ms": percentile(times, 95),
            "mean_ms": statistics.fmean(times),
            "max_ms": max(times),
            "mean_hits": hits / len(times),
        }
    # Parts of a query, to explain the totals: embedding one query, and the
    # store's row counts (dense search reads them on every query).
    emb, counts = [], []
    for q in questions:
        start = time.perf_counter()
        kb.embedder.embed([q])
        emb.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        kb.store.counts()
        counts.append((time.perf_counter() - start) * 1000)
    out["parts"] = {
        "embed_query_p50_ms": percentile(emb, 50),
        "store_counts_p50_ms": percentile(counts, 50),
    }
    return out


def snapshot(kb: KnowledgeBase) -> list[tuple[Any, list[Chunk], np.ndarray]]:
    """Every indexed document with its chunks and their stored vectors."""
    dim = kb.embedder.dim
    out = []
    for doc in kb.store.documents(status="indexed"):
        chunks = kb.store.chunks(doc.path)
        ids = [
            int(r["id"])
            for r in kb.store.db.query(
                "SELECT id FROM chunks WHERE document_id = ? ORDER BY ord", (doc.id,)
            )
        ]
        vectors = np.zeros((len(ids), dim), dtype=np.float32)
        for i, chunk_id in enumerate(ids):
            row = kb.store.db.query_one(
                "SELECT embedding FROM chunks_vec WHERE rowid = ?", (chunk_id,)
            )
            vectors[i] = np.frombuffer(row["embedding"], dtype="<f4")
        out.append((doc, chunks, vectors))
    return out


def grow(kb: KnowledgeBase, folder: Any, target_chunks: int) -> dict[str, Any]:
    """Copy the indexed documents under fake paths until ``target_chunks``."""
    docs = snapshot(kb)
    per_copy = sum(len(c) for _, c, _ in docs)
    if per_copy == 0:
        raise SystemExit("the sample indexed no chunks")
    total = kb.store.counts()["chunks"]
    start = time.perf_counter()
    copies = 0
    while total < target_chunks:
        copies += 1
        for doc, chunks, vectors in docs:
            rel = Path(doc.path).relative_to(folder.path)
            fake = f"{folder.path}/_copy{copies:04d}/{rel}"
            kb.store.replace_document(
                folder.id, fake, doc.size, doc.mtime_ns, doc.sha256 or "", chunks, vectors
            )
            total += len(chunks)
            if total >= target_chunks:
                break
    return {
        "copies": copies,
        "chunks_per_copy": per_copy,
        "seconds": time.perf_counter() - start,
        "counts": kb.store.counts(),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    questions = load_questions(QUESTIONS)
    embedder = SentenceTransformerEmbedder()
    embedder.embed(["warm up the model"])
    tmp = Path(tempfile.mkdtemp(prefix="bench-query-"))
    try:
        if args.home is not None:
            # An index built beforehand (the whole corpus takes ~30 min):
            # its database is copied, the original is never written.
            shutil.copy2(args.home / "assistant.db", tmp / "kb.sqlite")
            db = Database(tmp / "kb.sqlite")
            migrate(db)
            kb = KnowledgeBase(db, embedder)
            folder = kb.store.folders()[0]
            files = [Path(d.path) for d in kb.store.documents(status="indexed")]
            indexed, index_s = len(files), None
        else:
            files = sample_files(args.corpus, args.files)
            copy_sample(files, args.corpus, tmp / "docs")
            db = Database(tmp / "kb.sqlite")
            migrate(db)
            kb = KnowledgeBase(db, embedder)
            folder = kb.add_folder(tmp / "docs")
            start = time.perf_counter()
            indexed = kb.index().indexed
            index_s = time.perf_counter() - start
        sample_counts = kb.store.counts()
        small = measure(kb, questions, args.k, args.repeats)
        built = grow(kb, folder, args.target_chunks)
        large = measure(kb, questions, args.k, args.repeats)
        db_mib = sum(p.stat().st_size for p in tmp.glob("kb.sqlite*")) / 2**20
        kb.close()
        db.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "machine": {"platform": platform.platform(), "torch_threads": torch.get_num_threads()},
        "model": embedder.name,
        "questions": {"files": [str(p) for p in QUESTIONS], "count": len(questions)},
        "settings": {"k": args.k, "repeats": args.repeats, "warmup_per_mode": WARMUP},
        "corpus": {
            "root": str(args.corpus),
            "sample": "all"
            if args.files <= 0 or args.home
            else f"every Nth of the sorted *.html, {args.files}",
            "files": len(files),
            "files_indexed": indexed,
            "prebuilt_index": str(args.home) if args.home else None,
            "index_seconds": index_s,
        },
        "sizes": [
            {"label": "sample", "counts": sample_counts, "latency": small},
            {
                "label": f"~{args.target_chunks // 1000}k (copies)",
                "counts": built["counts"],
                "build": {k: v for k, v in built.items() if k != "counts"},
                "db_mib": db_mib,
                "latency": large,
            },
        ],
    }


def report(result: dict[str, Any]) -> None:
    c = result["corpus"]
    print(
        f"corpus {c['root']}: {c['files']} files ({c['sample']}), "
        + (
            f"indexed in {c['index_seconds']:.1f} s; "
            if c["index_seconds"] is not None
            else f"prebuilt index {c['prebuilt_index']}; "
        )
        + f"{result['questions']['count']} questions x "
        f"{result['settings']['repeats']}, k={result['settings']['k']}; "
        f"{result['machine']['torch_threads']} torch threads"
    )
    big = result["sizes"][1]["build"]
    print(
        f"large index: {big['copies']} copies of {big['chunks_per_copy']} chunks "
        f"inserted in {big['seconds']:.1f} s, DB {result['sizes'][1]['db_mib']:.0f} MiB"
    )
    print(f"{'size':>18}{'chunks':>9}{'mode':>9}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}")
    for size in result["sizes"]:
        for mode in MODES:
            m = size["latency"][mode]
            print(
                f"{size['label']:>18}{size['counts']['chunks']:>9}{mode:>9}"
                f"{m['p50_ms']:>9.1f}{m['p95_ms']:>9.1f}{m['max_ms']:>9.1f}"
            )
        parts = size["latency"]["parts"]
        print(
            f"{'':>18}{'':>9}  parts: embed one query p50 {parts['embed_query_p50_ms']:.1f} ms,"
            f" store.counts() p50 {parts['store_counts_p50_ms']:.1f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument(
        "--files", type=int, default=60, help="sample size (every Nth file); 0 = whole corpus"
    )
    parser.add_argument(
        "--home",
        type=Path,
        default=None,
        help="an ASSISTANT_HOME already indexed (its assistant.db is copied) instead of --files",
    )
    parser.add_argument("--target-chunks", type=int, default=100_000)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=1, help="passes over the questions")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "query_latency.json"
    )
    args = parser.parse_args()
    result = run(args)
    report(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
