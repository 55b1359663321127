"""Is a faster embedding backend worth it? Throughput against retrieval quality.

For each backend of ``backend.knowledge.embedder_fast`` (fp32 torch first, the
reference), on the same corpus:

* corpus: every gold file of the evaluation sets (``shared/eval`` by
  default) plus a deterministic sample of the other ``*.html`` files of the
  Python docs (every Nth, sorted by path) up to ``--files`` in all, copied to
  a temp folder;
* a fresh DB + ``KnowledgeBase`` per backend, add the folder, ``index()``:
  end-to-end seconds, and the seconds spent inside ``embed`` (chunks/s of the
  embedder on exactly the texts the indexer embeds); the model is loaded and
  warmed up before anything is timed;
* mean / min cosine of each chunk's vector against the fp32 one;
* every question, mode ``dense`` and ``hybrid``, k = 10: passage-level
  Recall@1, Recall@5 and MRR@10 (a hit is a chunk from a gold file whose
  text contains ``answer``, case-insensitive) and file-level Recall@5.

A backend qualifies when its embed throughput is >= ``--min-speedup`` times
fp32's and its passage Recall@5 drops by <= ``--max-drop`` in both modes.

On a small, shared CPU the throughput of one pass is noisy (the same fp32
run has measured 34.5 and 44.8 chunks/s): confirm a borderline speedup with a
second run, e.g. ``--backends torch-fp32 torch-int8``, before acting on it.
Recall is deterministic run to run.

Prints a table and writes JSON (``--out``, default
``benchmarks/results/embedding_speed.json``).
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from inputs import CORPUS, EVAL_DIR

from backend.knowledge.embedder import DelegatingEmbedder, Embedder
from backend.knowledge.embedder_fast import BACKENDS, make_embedder
from backend.knowledge.service import KnowledgeBase
from backend.store.db import Database
from backend.store.migrations import migrate

EVAL_SETS = ("pydocs_dev.jsonl", "pydocs_facts_dev.jsonl")
MODES = ("dense", "hybrid")


class RecordingEmbedder(DelegatingEmbedder):
    """Delegates to a real embedder, timing it and keeping each text's vector."""

    def __init__(self, inner: Embedder) -> None:
        super().__init__(inner)
        self.seconds = 0.0
        self.texts = 0
        self.vectors: dict[str, np.ndarray] = {}
        self.recording = True

    def embed(self, texts: list[str]) -> np.ndarray:
        start = time.perf_counter()
        out = self.inner.embed(texts)
        if self.recording:
            self.seconds += time.perf_counter() - start
            self.texts += len(texts)
            for t, v in zip(texts, out, strict=True):
                self.vectors[t] = v
        return out


def load_questions(eval_dir: Path) -> list[dict[str, Any]]:
    out = []
    for name in EVAL_SETS:
        for line in (eval_dir / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                q = json.loads(line)
                q["set"] = name.removesuffix(".jsonl")
                out.append(q)
    return out


def pick_files(root: Path, questions: list[dict[str, Any]], total: int) -> list[str]:
    """Gold files first, then every Nth other ``*.html`` (sorted) up to ``total``."""
    gold = sorted({g for q in questions for g in q["gold"]})
    others = [
        str(p.relative_to(root))
        for p in sorted(root.rglob("*.html"))
        if str(p.relative_to(root)) not in gold
    ]
    n = max(0, total - len(gold))
    if n >= len(others):
        return gold + others
    return gold + [others[i * len(others) // n] for i in range(n)] if n else gold


def ranks(
    kb: KnowledgeBase, docs: Path, q: dict[str, Any], mode: str, k: int
) -> tuple[int | None, int | None]:
    """1-based rank of the first passage-level hit and of the first file hit."""
    hits = kb.search(q["q"], k=k, mode=mode)  # type: ignore[arg-type]
    gold = set(q["gold"])
    answer = q["answer"].lower()
    passage = file = None
    for i, h in enumerate(hits, start=1):
        rel = str(Path(h.path).resolve().relative_to(docs))
        if rel in gold:
            if file is None:
                file = i
            if passage is None and answer in h.text.lower():
                passage = i
    return passage, file


def metrics(found: list[tuple[int | None, int | None]]) -> dict[str, float]:
    n = len(found) or 1
    p = [r for r, _ in found]
    f = [r for _, r in found]
    return {
        "passage_r1": sum(1 for r in p if r is not None and r <= 1) / n,
        "passage_r5": sum(1 for r in p if r is not None and r <= 5) / n,
        "passage_mrr10": sum(1 / r for r in p if r is not None and r <= 10) / n,
        "file_r5": sum(1 for r in f if r is not None and r <= 5) / n,
    }


def run_backend(
    backend: str, docs: Path, db_path: Path, questions: list[dict[str, Any]], batch: int
) -> tuple[dict[str, Any], RecordingEmbedder]:
    inner = make_embedder(backend, batch_size=batch)  # type: ignore[arg-type]
    start = time.perf_counter()
    inner.embed(["warm up the model", "and its tokenizer, with a longer second text"])
    load_s = time.perf_counter() - start
    rec = RecordingEmbedder(inner)
    db = Database(db_path)
    migrate(db)
    kb = KnowledgeBase(db, rec)
    kb.add_folder(docs)
    start = time.perf_counter()
    summary = kb.index()
    e2e_s = time.perf_counter() - start
    rec.recording = False
    quality: dict[str, Any] = {}
    per_question: dict[str, list[Any]] = {}
    for mode in MODES:
        found = [ranks(kb, docs, q, mode, 10) for q in questions]
        per_question[mode] = [r for r, _ in found]
        quality[mode] = metrics(found)
        for s in sorted({q["set"] for q in questions}):
            sub = [x for x, q in zip(found, questions, strict=True) if q["set"] == s]
            quality[mode][s] = metrics(sub)
    kb.close()
    db.close()
    return (
        {
            "backend": backend,
            "name": inner.name,
            "load_s": load_s,
            "files_indexed": summary.indexed,
            "files_failed": len(summary.failed),
            "chunks": summary.chunks,
            "index_s": e2e_s,
            "index_chunks_per_s": summary.chunks / e2e_s if e2e_s else None,
            "embed_s": rec.seconds,
            "embed_chunks_per_s": rec.texts / rec.seconds if rec.seconds else None,
            "quality": quality,
            "passage_ranks": per_question,
        },
        rec,
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    questions = load_questions(args.eval_dir)
    rels = pick_files(args.corpus, questions, args.files)
    tmp = Path(tempfile.mkdtemp(prefix="bench-embed-"))
    rows: list[dict[str, Any]] = []
    try:
        docs = (tmp / "docs").resolve()
        for rel in rels:
            target = docs / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(args.corpus / rel, target)
        reference: dict[str, np.ndarray] | None = None
        for i, backend in enumerate(args.backends):
            row, rec = run_backend(backend, docs, tmp / f"kb{i}.sqlite", questions, args.batch)
            if reference is None:
                reference = rec.vectors
                row["cosine_vs_fp32"] = {"mean": 1.0, "min": 1.0, "p01": 1.0}
            else:
                common = [t for t in rec.vectors if t in reference]
                a = np.stack([rec.vectors[t] for t in common])
                b = np.stack([reference[t] for t in common])
                cos = (a * b).sum(axis=1)
                row["cosine_vs_fp32"] = {
                    "mean": float(cos.mean()),
                    "min": float(cos.min()),
                    "p01": float(np.percentile(cos, 1)),
                }
            rows.append(row)
            print(f"  {backend}: {row['embed_chunks_per_s']:.1f} chunks/s", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    base = rows[0]
    for row in rows:
        row["speedup_embed"] = row["embed_chunks_per_s"] / base["embed_chunks_per_s"]
        row["speedup_index"] = row["index_chunks_per_s"] / base["index_chunks_per_s"]
        drops = {
            m: base["quality"][m]["passage_r5"] - row["quality"][m]["passage_r5"] for m in MODES
        }
        row["passage_r5_drop"] = drops
        row["qualifies"] = row is not base and (
            row["speedup_embed"] >= args.min_speedup
            and all(d <= args.max_drop + 1e-9 for d in drops.values())
        )
    return {
        "machine": {
            "platform": platform.platform(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
        },
        "corpus": {
            "root": str(args.corpus),
            "files": len(rels),
            "gold_files": len({g for q in questions for g in q["gold"]}),
            "chunks": base["chunks"],
        },
        "questions": len(questions),
        "batch_size": args.batch,
        "criteria": {"min_speedup": args.min_speedup, "max_passage_r5_drop": args.max_drop},
        "backends": rows,
    }


def report(result: dict[str, Any]) -> None:
    c = result["corpus"]
    print(
        f"corpus {c['root']}: {c['files']} files ({c['gold_files']} gold), {c['chunks']} chunks; "
        f"{result['questions']} questions; torch {result['machine']['torch']}, "
        f"{result['machine']['torch_threads']} threads, batch {result['batch_size']}"
    )
    head = (
        f"{'backend':16}{'emb c/s':>8}{'x':>6}{'idx c/s':>8}{'x':>6}"
        f"{'dR@1':>6}{'dR@5':>6}{'dMRR':>6}{'hR@1':>6}{'hR@5':>6}{'hMRR':>6}"
        f"{'cos':>7}{'cosmin':>7}  ok"
    )
    print(head)
    for r in result["backends"]:
        d, h = r["quality"]["dense"], r["quality"]["hybrid"]
        print(
            f"{r['backend']:16}{r['embed_chunks_per_s']:>8.1f}{r['speedup_embed']:>6.2f}"
            f"{r['index_chunks_per_s']:>8.1f}{r['speedup_index']:>6.2f}"
            f"{d['passage_r1']:>6.3f}{d['passage_r5']:>6.3f}{d['passage_mrr10']:>6.3f}"
            f"{h['passage_r1']:>6.3f}{h['passage_r5']:>6.3f}{h['passage_mrr10']:>6.3f}"
            f"{r['cosine_vs_fp32']['mean']:>7.4f}{r['cosine_vs_fp32']['min']:>7.4f}"
            f"  {'yes' if r['qualifies'] else '-'}"
        )
    print(
        "emb c/s: chunks/s inside embed during index(); idx c/s: end-to-end index(); "
        "x: vs the first backend; d*/h*: passage-level, dense / hybrid; "
        "cos: mean / min cosine vs fp32"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--eval-dir", type=Path, default=EVAL_DIR)
    parser.add_argument("--files", type=int, default=120, help="files in all, gold included")
    parser.add_argument(
        "--backends",
        nargs="+",
        default=list(BACKENDS),
        choices=list(BACKENDS),
        help="the first one is the reference (fp32)",
    )
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=0, help="torch threads; 0 = default")
    parser.add_argument("--min-speedup", type=float, default=1.5)
    parser.add_argument("--max-drop", type=float, default=0.01)
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "embedding_speed.json"
    )
    args = parser.parse_args()
    result = run(args)
    report(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
